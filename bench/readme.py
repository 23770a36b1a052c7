"""The README's Performance section, generated from the newest `bench/results/*.json` (never typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import GPU_IDS

START, END = "<!-- performance:start -->", "<!-- performance:end -->"


def _cell(f: dict[str, Any] | None) -> tuple[str, str]:
    """A figure's value and verdict as table cells; `–` for a figure the run did not measure."""
    if f is None or f["value"] is None:
        return "–", "–"
    return f"{f['value']:g} {f['unit']}", {True: "yes", False: "**no**", None: "–"}[f["met"]]


def table(figures: list[dict[str, Any]], gpu: list[dict[str, Any]] | None = None) -> str:
    """The figures as a markdown table; with `gpu` (a GPU run's figures) a GPU column and its verdict beside the CPU's,
    matched by id (a figure only the GPU run has gets a row of its own)."""
    head = "| id | figure | value | target | met |" if gpu is None else (
        "| id | figure | CPU | target | met | GPU (bf16) | met |")  # fmt: skip
    rows = [head, "|---|---|---|---|---|" + ("" if gpu is None else "---|---|")]
    on_gpu = {f["id"]: f for f in gpu or []}
    cpu_ids = {f["id"] for f in figures}
    for f in [*figures, *(g for g in gpu or [] if g["id"] not in cpu_ids)]:
        mine = f if f["id"] in cpu_ids else None
        target = "–" if f["target"] is None else f"{f['kind']} {f['target']:g}"
        note = f" ({f['note']})" if mine is not None and f.get("note") else ""
        value, met = _cell(mine)
        row = f"| {f['id']} | {f['figure']}{note} | {value} | {target} | {met} |"
        if gpu is not None:
            row += " {} | {} |".format(*_cell(on_gpu.get(f["id"])))
        rows.append(row)
    return "\n".join(rows)


OTHER = ("load-", "growth-", "profile-")
"""Results of other commands (bench.load, bench.growth, bench.profiles), not whole runs of `python -m bench`."""


def is_gpu(record: dict[str, Any]) -> bool:
    """A `python -m bench --gpu` run (the engine on cuda); older records, without `device`, are CPU runs."""
    return str(record.get("device", "cpu")).startswith("cuda")


def whole_runs(results: Path, gpu: bool) -> dict[Path, dict[str, Any]]:
    """Every whole run of one kind (CPU or GPU) in `results`: load, growth and profile results and `--only` runs
    are not whole runs."""
    runs = {p: json.loads(p.read_text()) for p in sorted(results.glob("*.json")) if not p.name.startswith(OTHER)}
    return {p: r for p, r in runs.items() if not r.get("only") and is_gpu(r) == gpu}


def _newest(runs: dict[Path, dict[str, Any]]) -> Path:
    return max(runs, key=lambda p: (runs[p]["date"], not runs[p]["quick"]))


def newest(results: Path) -> Path:
    """The newest whole CPU run (a full run before a quick one of the same day); load, growth and profile results,
    `--only` runs and GPU runs are not this table's."""
    whole = whole_runs(results, gpu=False)
    if not whole:
        raise SystemExit(f"no whole run in {results}: run python -m bench first")
    return _newest(whole)


def newest_gpu(results: Path) -> Path | None:
    """The newest whole `python -m bench --gpu` run, None when none is shipped."""
    whole = whole_runs(results, gpu=True)
    return _newest(whole) if whole else None


def newest_of(results: Path, prefix: str) -> Path | None:
    """The newest `prefix*.json` (by the date in its record; a full run before a quick one of the same day)."""
    found = {p: json.loads(p.read_text()) for p in sorted(results.glob(f"{prefix}*.json"))}
    if not found:
        return None
    return max(found, key=lambda p: (found[p].get("date", ""), not found[p].get("quick", False)))


def growth_lines(record: dict[str, Any], path: Path) -> list[str]:
    """The cost-growth paragraph and figure, from a `bench.growth` record."""
    d, g, c = record["discovery"], record["generation"], record["cache"]
    last = g[-1]
    held = ", ".join(f"{r['budget_mb']} MB → {r['held_mb']} MB held, repeat {r['second_pass_s']} s" for r in c)
    return [
        "",
        f"**How cost grows** (`python -m bench.growth{' --quick' if record['quick'] else ''}`, commit "
        f"{record['commit']}, {record['date']}, {record['seconds']} s; raw numbers in `{path.as_posix()}`): discovery "
        f"takes {d[0]['seconds']} s at {d[0]['pairs']} pairs and {d[-1]['seconds']} s at {d[-1]['pairs']} "
        f"({d[-1]['pairs_per_s']} pairs/s); a steered answer of {last['new_tokens']} tokens takes {last['kv_s']} s "
        f"with the KV cache and {last['recompute_s']} s recomputed ({last['recompute_s'] / last['kv_s']:.1f}×, and "
        f"growing with length); the encode cache never holds more than its budget over {record['prompts']} "
        f"prompts ({held}).",
        "",
        f"![cost growth]({path.with_suffix('.png').as_posix()})",
    ]


def profile_lines(record: dict[str, Any], path: Path, figures: list[dict[str, Any]]) -> list[str]:
    """Why the missed targets are missed, from a `bench.profiles` record (and the run's own P4 / P4s)."""
    dec, var, p3 = record["decode"], record["variants"], record["sae_lens"]
    v = var["variants"]
    kinds = [
        f"{name} {x['speed_vs_fp32']}× (greedy answers kept {x['greedy_answers_equal']})"
        for name, x in v.items()
        if name != "fp32"
    ]
    notes = var.get("notes", {})
    compiled = (
        f" torch.compile needed {notes['compiled_first_call_s']} s to compile"
        f"{' (a fresh inductor cache)' if notes.get('inductor_cache') == 'fresh' else ''} and "
        f"{notes['compiled_new_prompt_length_s']} s again for a prompt of another length, so the app, whose "
        "prompts all differ, does not use it."
        if "compiled_first_call_s" in notes
        else ""
    )
    by_id = {f["id"]: f for f in figures}
    secs = p3["seconds"]
    full_over_stop = secs["sae_lens"] / secs["sae_lens_stop_at_layer"]
    lines = [
        "",
        f"**Where the misses come from** (`python -m bench.profiles`, commit {record['commit']}, {record['date']}; "
        f"`{path.as_posix()}`):",
        f"- P10: b1 decode runs at {dec['ms_per_token']} ms/token; matrix products take "
        f"{100 * dec['matmul_share']:.0f}% of it and stream the weights at {dec['matmul_gb_s']} GB/s where a copy "
        f"moves {dec['copy_gb_s']} GB/s, so the gap to the bound is the CPU's GEMV kernels "
        f"({dec['matmul_gb_s'] / dec['copy_gb_s']:.0%} of copy bandwidth) plus "
        f"{100 * (1 - dec['matmul_share']):.0f}% of time in other operators; "
        + (
            f"HF `generate` adds {100 * dec['generate_overhead']:.0f}% over a bare loop"
            if dec["generate_overhead"] >= 0.02
            else f"HF `generate` costs no more than a bare loop ({100 * dec['generate_overhead']:+.0f}%, noise)"
        )
        + ". Cheaper decoding, against fp32: "
        + "; ".join(kinds)
        + "."
        + compiled,
        f"- P3: sae-lens's full forward does {p3['work_ratio_full_over_ours']}× the engine's work per token "
        f"({p3['blocks_run']['sae_lens_full']} blocks and an LM head worth {p3['lm_head_in_blocks']} blocks, against "
        f"{p3['blocks_run']['saif_ui']} blocks) and costs {full_over_stop:.2f}× TransformerLens's own truncated "
        f"forward (stop_at_layer); at equal work the engine is {p3['vs_stop_at_layer']}× faster. "
        "The speed-up is the product: "
        f"{full_over_stop:.2f} × {p3['vs_stop_at_layer']} = {p3['p3']}× in this profile run "
        f"({p3['seconds']['saif_ui']} s for the engine over the same prompts).",
    ]
    p8 = by_id.get("P8", {})
    if p8.get("met") is False and "prefill_batched_s" in p8.get("raw", {}):
        raw = p8["raw"]
        lines.append(
            f"- P8: of the batched sweep's {raw['seconds']['batched']} s, {raw['prefill_batched_s']} s is the "
            f"prompts' prefill, the same compute-bound work as one call at a time; even free batched decoding would "
            f"give at most {raw['bound_if_decoding_were_free']}× with {raw['max_new_tokens']}-token answers. "
            "Longer answers (an evaluation's are 48 tokens) shift the time to decoding, which batching divides."
        )
    if "P4" in by_id and "P4s" in by_id and by_id["P4"]["value"] is not None and by_id["P4s"]["value"] is not None:
        lines.append(
            f"- P4: the server answers a repeated request in {by_id['P4s']['value']:g} ms (P4s); the rest of the "
            f"{by_id['P4']['value']:g} ms round trip is gradio's queue and HTTP streaming, not saif_ui's work."
        )
    return lines


def gpu_lines(gpu: tuple[dict[str, Any], Path] | None) -> list[str]:
    """The sentence above the table that says where the GPU column comes from, or that there is none yet."""
    if gpu is None:
        return [
            "",
            f"GPU: no GPU run shipped yet. `python -m bench --gpu` on a machine with CUDA measures "
            f"{', '.join(GPU_IDS[:-1])} and {GPU_IDS[-1]} with the engine on cuda in bf16 and writes "
            "`bench/results/<date>-<gpu>-gpu.json`; `python -m bench --readme` then adds its column to this table.",
        ]
    record, path = gpu
    m = record["machine"]
    memory = f", {m['gpu_memory_gb']:g} GB" if m.get("gpu_memory_gb") else ""
    cuda = f", CUDA {m['cuda']}" if m.get("cuda") else ""
    notes = [f"- {f['id']} on the GPU: {f['note']}" for f in record["figures"] if f.get("note")]
    return [
        "",
        f"GPU column: `python -m bench --gpu{' --quick' if record['quick'] else ''}` ({record['seconds']} s) at commit "
        f"{record['commit']} on {record['date']}: {m['gpu']}{memory}{cuda}, torch {m['torch']}, the engine in "
        f"{record.get('dtype') or 'bfloat16'}; raw timings in `{path.as_posix()}`. The targets were set for the CPU.",
        *(["", *notes] if notes else []),
    ]


def section(
    record: dict[str, Any],
    path: Path,
    extra: list[str] | None = None,
    gpu: tuple[dict[str, Any], Path] | None = None,
) -> str:
    """The whole block: the CPU run's header and table (with the GPU column when `gpu`, a GPU run and its path, is
    given, else a line saying none is shipped), then `extra`."""
    m = record["machine"]
    where = f"{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads)"
    if m.get("gpu"):
        where += f", GPU {m['gpu']}"
    mode = "quick run" if record["quick"] else "full run"
    return "\n".join(
        [
            START,
            f"Measured by `python -m bench{' --quick' if record['quick'] else ''}` ({mode}, {record['seconds']} s) at "
            f"commit {record['commit']} on {record['date']}: {where}. Every value is a ratio (or a time) measured in "
            f"that one run; raw timings are in `{path.as_posix()}`.",
            *gpu_lines(gpu),
            "",
            table(record["figures"], gpu[0]["figures"] if gpu else None),
            *(extra or []),
            END,
        ]
    )


def history_lines(results: Path, path: Path, record: dict[str, Any]) -> list[str]:
    """For each target this run missed, its value in the other whole CPU runs kept in `results` (the machines are
    noisy: a miss by a hair and a clear miss read differently)."""
    others = [r for p, r in whole_runs(results, gpu=False).items() if p != path]
    lines = []
    for f in record["figures"]:
        if f.get("met") is not False:
            continue
        seen = [
            f"{g['value']:g} ({r['date']}, {r['commit']}{', quick' if r['quick'] else ''})"
            for r in others
            for g in r["figures"]
            if g["id"] == f["id"] and g["value"] is not None
        ]
        if seen:
            lines.append(f"- {f['id']} (target {f['kind']} {f['target']:g}): {f['value']:g} in this run; other runs: "
                         + "; ".join(seen) + ".")  # fmt: skip
    return ["", "**Missed targets across runs** (every whole run kept in `bench/results/`):", *lines] if lines else []


def write_readme(root: Path, results: Path) -> Path:
    path = newest(results)
    record = json.loads(path.read_text())
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} … {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    extra: list[str] = []
    growth = newest_of(results, "growth-")
    if growth is not None:
        extra += growth_lines(json.loads(growth.read_text()), growth.relative_to(root))
    prof = newest_of(results, "profile-")
    if prof is not None:
        extra += profile_lines(json.loads(prof.read_text()), prof.relative_to(root), record["figures"])
    extra += history_lines(results, path, record)
    gpu_path = newest_gpu(results)
    gpu = (json.loads(gpu_path.read_text()), gpu_path.relative_to(root)) if gpu_path is not None else None
    readme.write_text(head + section(record, path.relative_to(root), extra, gpu) + tail, encoding="utf-8")
    return path
