"""The README's Performance section is written from a results file, never by hand: the block is replaced whole,
the rest of the README is kept, and the newest full run wins over a quick run of the same day."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.readme import END, START, newest, newest_gpu, table, write_readme
from bench.timing import Figure


def rendered(root: Path, results: Path, readme: str) -> str:
    """The README `readme` after `write_readme` filled its section from `results`."""
    (root / "README.md").write_text(readme)
    write_readme(root, results)
    return (root / "README.md").read_text()


def record(date: str, quick: bool, value: float) -> dict:
    return {
        "date": date,
        "commit": "abc1234",
        "quick": quick,
        "seconds": 12,
        "machine": {"cpu": "Test CPU", "cores": 2, "torch": "2.13.0", "torch_threads": 2, "gpu": None},
        "figures": [Figure("P1", "steered / plain", value, 0.97).to_dict(), Figure("P5w", "start", 30.0, 20.0, "<=",
                                                                                  "s").to_dict()],
    }  # fmt: skip


def test_the_section_is_rewritten_from_the_newest_full_run(tmp_path) -> None:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "2026-11-30-x.json").write_text(json.dumps(record("2026-11-30", False, 0.5)))
    (results / "2026-12-01-x-quick.json").write_text(json.dumps(record("2026-12-01", True, 0.8)))
    (results / "2026-12-01-x.json").write_text(json.dumps(record("2026-12-01", False, 0.99)))
    (results / "load-2026-12-02-x.json").write_text("{}")  # load results are not this section's
    (results / "2026-12-02-x-P1.json").write_text(json.dumps({**record("2026-12-02", False, 0.1), "only": ["P1"]}))
    assert newest(results).name == "2026-12-01-x.json"
    text = rendered(tmp_path, results, f"# Title\n\n## Performance\n\n{START}\nold text\n{END}\n\n## Next\nkept\n")
    assert "old text" not in text and text.startswith("# Title") and text.endswith("## Next\nkept\n")
    assert "| P1 | steered / plain | 0.99 × | >= 0.97 | yes |" in text
    assert "| P5w | start | 30 s | <= 20 | **no** |" in text
    assert "Test CPU, 2 cores" in text and "commit abc1234" in text


def test_a_readme_without_the_block_is_an_error(tmp_path) -> None:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "2026-12-01-x.json").write_text(json.dumps(record("2026-12-01", False, 1.0)))
    (tmp_path / "README.md").write_text("# no block\n")
    with pytest.raises(SystemExit, match="no <!-- performance:start -->"):
        write_readme(tmp_path, results)


def test_figure_verdicts() -> None:
    assert Figure("a", "", 1.0, 0.97).met is True
    assert Figure("a", "", 0.9, 0.97).met is False
    assert Figure("a", "", 10.0, 20.0, "<=").met is True
    assert Figure("a", "", None, 1.0).met is None and Figure("a", "", 1.0, None, "report").met is None


def growth_record() -> dict:
    return {
        "date": "2026-12-01",
        "commit": "abc1234",
        "quick": True,
        "seconds": 200,
        "prompts": 64,
        "discovery": [{"pairs": 4, "seconds": 1.0, "pairs_per_s": 4.0}, {"pairs": 32, "seconds": 6.0,
                                                                          "pairs_per_s": 5.33}],
        "generation": [{"new_tokens": 16, "kv_s": 1.0, "recompute_s": 1.5}, {"new_tokens": 128, "kv_s": 6.0,
                                                                              "recompute_s": 24.0}],
        "cache": [{"budget_mb": 0, "held_mb": 0.0, "second_pass_s": 3.0}, {"budget_mb": 64, "held_mb": 63.9,
                                                                            "second_pass_s": 0.1}],
    }  # fmt: skip


def profile_record() -> dict:
    return {
        "date": "2026-12-01",
        "commit": "abc1234",
        "decode": {"ms_per_token": 50.0, "matmul_share": 0.7, "matmul_gb_s": 14.0, "copy_gb_s": 23.0,
                   "generate_overhead": 0.03},
        "variants": {"variants": {"fp32": {"speed_vs_fp32": 1.0, "greedy_answers_equal": "4/4"},
                                  "bf16": {"speed_vs_fp32": 0.84, "greedy_answers_equal": "1/4"}}, "notes": {}},
        "sae_lens": {"p3": 2.4, "vs_stop_at_layer": 2.0, "work_ratio_full_over_ours": 1.5, "lm_head_in_blocks": 7.9,
                     "blocks_run": {"saif_ui": 25, "sae_lens_full": 30},
                     "seconds": {"saif_ui": 5.0, "sae_lens": 12.0, "sae_lens_stop_at_layer": 10.0}},
    }  # fmt: skip


def test_growth_and_profiles_join_the_section_and_never_replace_the_table(tmp_path) -> None:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    run = record("2026-12-01", True, 0.99)
    run["figures"] += [Figure("P4", "round trip", 99.0, 50.0, "<=", "ms").to_dict(),
                       Figure("P4s", "server side", 1.2, 50.0, "<=", "ms").to_dict()]  # fmt: skip
    (results / "2026-12-01-x-quick.json").write_text(json.dumps(run))
    (results / "growth-2026-12-02-x-quick.json").write_text(json.dumps(growth_record()))
    (results / "profile-2026-12-02-x.json").write_text(json.dumps(profile_record()))
    assert newest(results).name == "2026-12-01-x-quick.json"  # newer growth / profile files are not runs
    text = rendered(tmp_path, results, f"# T\n\n{START}\n{END}\n")
    assert "![cost growth](bench/results/growth-2026-12-02-x-quick.png)" in text
    assert "6.0 s with the KV cache and 24.0 s recomputed (4.0×" in text
    assert "matrix products take 70% of it" in text and "bf16 0.84× (greedy answers kept 1/4)" in text
    assert "1.5× the engine's work per token" in text and "1.20 × 2.0 = 2.4×" in text
    assert "answers a repeated request in 1.2 ms (P4s); the rest of the 99 ms round trip" in text
    assert text.index(END) > text.index("cost growth")


def test_a_missed_target_is_shown_beside_its_value_in_the_other_whole_runs(tmp_path) -> None:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "2026-11-30-x.json").write_text(json.dumps(record("2026-11-30", False, 0.98)))
    (results / "2026-12-01-x-quick.json").write_text(json.dumps(record("2026-12-01", True, 0.96)))
    (results / "2026-12-01-x-P1.json").write_text(json.dumps({**record("2026-12-01", True, 0.1), "only": ["P1"]}))
    text = rendered(tmp_path, results, f"{START}\n{END}\n")
    # The newest run misses P1 (0.96 < 0.97); the older whole run met it; the --only run is not a whole run.
    assert "- P1 (target >= 0.97): 0.96 in this run; other runs: 0.98 (2026-11-30, abc1234)." in text
    assert "0.1 (" not in text
    assert "- P5w (target <= 20): 30 in this run; other runs: 30 (2026-11-30, abc1234)." in text


def gpu_record(date: str, value: float) -> dict:
    """A `python -m bench --gpu` record: the engine on cuda in bf16, the GPU named in its machine block."""
    return {
        **record(date, False, value),
        "device": "cuda",
        "dtype": "bfloat16",
        "machine": {"cpu": "Host CPU", "cores": 16, "torch": "2.13.0+cu128", "torch_threads": 16,
                    "gpu": "NVIDIA H200", "gpu_memory_gb": 150.0, "cuda": "12.8", "device": "cuda"},
        "figures": [Figure("P1", "steered / plain", value, 0.97).to_dict(),
                    Figure("P10", "decode vs bound", 0.05, 0.8, note="launch-bound").to_dict()],
    }  # fmt: skip


def test_the_table_puts_a_gpu_column_beside_the_cpu_one_when_given_a_gpu_run() -> None:
    cpu = record("2026-12-01", False, 0.99)["figures"]
    assert "GPU" not in table(cpu)  # no GPU run: the table is the CPU's alone
    rows = table(cpu, gpu_record("2026-12-05", 1.01)["figures"]).splitlines()
    assert rows[0] == "| id | figure | CPU | target | met | GPU (bf16) | met |"
    assert rows[1] == "|---|---|---|---|---|---|---|"
    assert rows[2] == "| P1 | steered / plain | 0.99 × | >= 0.97 | yes | 1.01 × | yes |"
    assert rows[3] == "| P5w | start | 30 s | <= 20 | **no** | – | – |"  # not a GPU figure
    assert rows[4] == "| P10 | decode vs bound | – | >= 0.8 | – | 0.05 × | **no** |"  # measured on the GPU only
    assert len(rows) == 5


def test_the_section_shows_the_newest_gpu_run_beside_the_newest_cpu_run(tmp_path) -> None:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "2026-12-01-x.json").write_text(json.dumps(record("2026-12-01", False, 0.96)))
    (results / "2026-11-30-x.json").write_text(json.dumps(record("2026-11-30", False, 0.98)))
    (results / "2026-12-04-nvidia-h200-gpu.json").write_text(json.dumps(gpu_record("2026-12-04", 0.5)))
    (results / "2026-12-05-nvidia-h200-gpu.json").write_text(json.dumps(gpu_record("2026-12-05", 1.01)))
    partial = {**gpu_record("2026-12-06", 0.1), "only": ["P1"]}
    (results / "2026-12-06-nvidia-h200-gpu-P1.json").write_text(json.dumps(partial))
    assert newest(results).name == "2026-12-01-x.json"  # a newer GPU run is not the CPU column
    assert newest_gpu(results).name == "2026-12-05-nvidia-h200-gpu.json"  # nor is a partial GPU run its column
    text = rendered(tmp_path, results, f"{START}\n{END}\n")
    assert "| P1 | steered / plain | 0.96 × | >= 0.97 | **no** | 1.01 × | yes |" in text
    assert "GPU column: `python -m bench --gpu` (12 s) at commit abc1234 on 2026-12-05: NVIDIA H200, 150 GB" in text
    assert "the engine in bfloat16; raw timings in `bench/results/2026-12-05-nvidia-h200-gpu.json`" in text
    assert "- P10 on the GPU: launch-bound" in text
    assert "no GPU run shipped yet" not in text
    # a missed CPU target is compared with the other CPU runs only, never with a GPU's value
    assert "- P1 (target >= 0.97): 0.96 in this run; other runs: 0.98 (2026-11-30, abc1234)." in text


def test_without_a_gpu_run_the_section_says_so_plainly(tmp_path) -> None:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "2026-12-01-x.json").write_text(json.dumps(record("2026-12-01", False, 0.99)))
    assert newest_gpu(results) is None
    text = rendered(tmp_path, results, f"{START}\n{END}\n")
    assert "GPU: no GPU run shipped yet. `python -m bench --gpu` on a machine with CUDA measures P1, P2" in text
    assert "| id | figure | value | target | met |" in text and "GPU (bf16)" not in text
