"""FINDINGS.md is written from shipped study documents alone: no model, every number from the files; each study's
section (findings_<study>.py) is checked here through the whole document it is part of."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from saif_ui.cli import main
from saif_ui.saif.judge.stats import wilson_interval
from saif_ui.saif.studies.findings import claims, glances, load_studies, write_findings
from saif_ui.saif.studies.findings_sections import summary_html, tally
from saif_ui.saif.studies.findings_steering import METHODS, STEERS, verdict
from saif_ui.saif.studies.registry import studies
from saif_ui.saif.studies.study import VERDICTS, Glance


def _block(k: int, n: int = 96) -> dict:
    rate = k / n
    return {
        "success": rate, "fluent_strict": rate, "strict": rate, "n": n,
        "ci": {"success": list(wilson_interval(k, n))},
        "chrf": {"content": 20.0, "content_mismatched": 15.0, "prompted": 40.0, "prompted_mismatched": 18.0},
        "paired": {"original": {"p": 0.0001}, "prompted": {"p": 0.5}, "steered": {"p": 0.02}},
        "outputs": [{"id": f"c{i}", "text": f"answer {i}", "success": i < k} for i in range(n)],
    }  # fmt: skip


def _doc(iid: str, steered: int, original: int = 0) -> dict:
    counts = dict.fromkeys(METHODS, 5) | {"original": original, "prompted": 80, "steered": steered}
    validation = {"n": 96, "successes": 40, "ci": [0.3, 0.5]}
    recipe = {"method": "saif_topk", "layer": 24, "latents": [1, 2], "k": 2, "alpha": 2.0, "positions": "all",
              "decay": 0.0, "fidelity_threshold": 22.5, "validation": validation}  # fmt: skip
    methods = {m: _block(c) for m, c in counts.items()}
    result = {"instruction": iid, "checker": iid, "recipe": recipe, "n": 96, "headline": "success",
              "contents": [f"c{i}" for i in range(96)], "methods": methods}  # fmt: skip
    return {"study": "steering", "item": iid, "key": {"v": 1}, "key_digest": "abc", "seconds": 12.0,
            "provenance": {"git_commit": "0123456789abcdef", "command": "python -m saif_ui steering-study"},
            "result": result}  # fmt: skip


def test_verdict_needs_thirty_points_and_a_lower_bound_above_unsteered() -> None:
    assert verdict(_doc("french", 50)["result"])["passed"]  # 52 % [42, 62] vs 0 %
    weak = verdict(_doc("german", 20)["result"])  # 21 %: above 0 but under 30 points
    assert not weak["passed"] and weak["outcome"] == "partial"
    assert verdict(_doc("spanish", 0)["result"])["outcome"] == "not reproduced"


def test_document_and_index_come_from_the_shipped_files(tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    (studies / "steering").mkdir(parents=True)
    for iid, k, untold in (("french", 50, 0), ("german", 20, 0), ("one_sentence", 50, 0), ("formal", 4, 9)):
        (studies / "steering" / f"{iid}.json").write_text(json.dumps(_doc(iid, k, untold)), encoding="utf-8")
    path = write_findings(tmp_path / "out", studies)
    text = path.read_text(encoding="utf-8")
    # The bar counts instructions and the catalogue categories they come from (issue 11 asks for two or more).
    assert "met for 2 of 4 instructions (french, one_sentence) in 2 categories (language, length)." in text
    assert "`formal` 9% → 4% [2, 10] (-5 points, not reproduced" in text  # a loss reads as one, not "+-5"
    assert "| `french` | language | 96 | 0% [0, 4] | 83% [75, 89] | 52% [42, 62] | +52 | 52% (original 0%) |" in text
    assert "Not yet re-measured under this protocol" in text and "answer 0" in text
    assert (tmp_path / "out" / "figures" / "steering_methods.png").stat().st_size > 1000
    index = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert index["studies"]["steering/french"]["key_digest"] == "abc"
    assert index["studies"]["steering/german"]["verdict"]["passed"] is False
    assert set(index["provenance"]) == {"git_commit", "command", "contents", "catalogue", "checkers"}
    assert set(index["provenance"]["contents"]) == {"discovery", "validation", "test"}


def test_findings_command_needs_no_model(tmp_path: Path, monkeypatch, capsys) -> None:
    def no_model(*_: object, **__: object) -> None:
        raise AssertionError("findings must not load the model")

    monkeypatch.setattr("saif_ui.cli.common.engine_from_args", no_model)
    assert main(["findings", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "FINDINGS.md").exists() and "wrote" in capsys.readouterr().out


def test_proximity_and_special_sections_come_from_their_files(tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    for name in ("steering", "proximity", "special"):
        (studies / name).mkdir(parents=True)
    (studies / "steering" / "french.json").write_text(json.dumps(_doc("french", 50)), encoding="utf-8")
    proximity = {"instruction": "french", "sae": "L24", "n_prompts": 96, "selected_mean": 0.6, "random_mean": 0.2,
                 "n_random": 200, "mann_whitney_p": 0.001,
                 "selected": [{"latent": 7, "score": 0.6, "percentile": 0.97}]}  # fmt: skip
    doc = {**_doc("french", 50), "study": "proximity", "result": proximity}
    (studies / "proximity" / "french.json").write_text(json.dumps(doc), encoding="utf-8")

    def block(structured: float) -> dict:
        rates = {"structured": structured, "polite": 0.0, "loop": 0.0, "changed": 1.0}
        return {"n": 24, "words": 30.0, **{m: {"rate": r, "ci": [0.0, 1.0]} for m, r in rates.items()}}

    rows = [{"alpha": a, "special": block(s), "random": block(0.0),
             "paired": {"structured": p, "polite": 1.0, "loop": 1.0, "changed": 1.0}}
            for a, s, p in ((0.0, 0.0, 1.0), (25.0, 0.5, 0.001))]  # fmt: skip
    special = {"sae": "L24", "latent": 3, "token": "<|im_start|>", "random_latent": 9, "rows": rows}
    (studies / "special" / "L24.json").write_text(json.dumps({**doc, "result": special}), encoding="utf-8")
    text = write_findings(tmp_path / "out", studies).read_text(encoding="utf-8")
    assert "Closer than random (p < 0.05) for 1 of 1 instructions (french)" in text
    assert "| `french` | L24 | 96 | 7: 0.60 (97%) | 0.6 | 0.2 (200) | 0.001 |" in text
    assert "L24 (`<|im_start|>`): more structured than the random latent at α=25" in text
    assert "| 25 | 50% / 0% (0.001) |" in text
    index = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert set(index["special"]) == {"special/L24"} and set(index["proximity"]) == {"proximity/french"}


def _rate(k: int, n: int = 96) -> dict:
    return {"rate": k / n, "ci": list(wilson_interval(k, n)), "n": n}


def _pair(a: int, b: int, p: float) -> dict:
    return {"post": _rate(a), "pre": _rate(b), "paired": {"p": p, "n": 96}}


def _write(root: Path, study: str, item: str, result: dict) -> None:
    (root / study).mkdir(parents=True, exist_ok=True)
    doc = {**_doc("french", 10), "study": study, "item": item, "result": result}
    (root / study / f"{item}.json").write_text(json.dumps(doc), encoding="utf-8")


def _point(group: str, label: str, latents: list[int], fluent: int, p: float) -> dict:
    paired = {"success": {"p": 1.0}, "fluent_strict": {"p": p}}
    return {"group": group, "label": label, "latents": latents, "norm": 10.0 * len(latents), "success": _rate(0),
            "fluent_strict": _rate(fluent), "paired_vs_full": paired}  # fmt: skip


def _joint_block(k: int, both: int, each: tuple[int, int], n: int = 96, p: float | None = None) -> dict:
    low, high = wilson_interval(k, n)
    block = {
        "success": {"rate": k / n, "ci": [low, high], "k": k, "n": n},
        "joint_strict": {"rate": both / n, "ci": list(wilson_interval(both, n)), "k": both, "n": n},
        "each": {"french": {"rate": each[0] / n}, "postscript": {"rate": each[1] / n}},
        "repetition": 0.2,
        "chrf_prompted": 30.0,
        "outputs": [{"id": f"c{i}", "text": f"answer {i}", "success": i < k} for i in range(n)],
    }
    return {**block, "paired_joint": {"p": p}} if p is not None else block


def _joint() -> dict:
    val = {"original": _joint_block(0, 0, (0, 0), 48), "prompted": _joint_block(24, 24, (45, 27), 48)}
    cells = [{"weights": [a, b], **_joint_block(int(a == b == 1), 1, (40, 5), 48)} for a, b in ((1.0, 1.0), (2.0, 1.0))]
    methods = {"original": _joint_block(0, 0, (0, 0), p=1.0), "prompted": _joint_block(53, 53, (95, 54), p=1e-9),
               "joint": _joint_block(40, 41, (80, 45)), "random_latents": _joint_block(0, 0, (0, 0), p=1e-9),
               "mean_difference": _joint_block(2, 2, (60, 3), p=1e-8)}  # fmt: skip
    return {
        "instructions": ["french", "postscript"], "wording": "Translate. Add a P.S.", "weights": [1.0, 1.0],
        "fidelity_threshold": 28.0,
        "validation": {"n": 48, "contents": [], "fidelity_threshold": 28.0, "threshold_source": "95 % quantile",
                       "baselines": val, "cells": cells, "chosen_weights": [1.0, 1.0]},
        "test": {"n": 96, "contents": [], "methods": methods},
    }  # fmt: skip


def _report(mse: float, st: float, ce: float | None) -> dict:
    return {"log2_mse": mse, "log2_mse_st": st, "explained_variance": 0.8, "l0": 64.0, "dead_fraction": 0.01,
            "delta_ce": ce, "loss_recovered": None if ce is None else 0.98}  # fmt: skip


def test_every_replication_has_its_claim_section_and_figure(tmp_path: Path) -> None:
    root = tmp_path / "studies"
    _write(root, "steering", "french", _doc("french", 10)["result"])
    discovery = {"k": 5, "jaccard_at_5": 0.43, "jaccard_at_20": 0.6}
    _write(root, "placement", "french", {"n": 96, "prompted": {"fluent_strict": _pair(80, 50, 0.001),
           "strict": _pair(90, 88, 0.5)}, "discovery": discovery,
           "steering": {"success": _pair(3, 2, 1.0), "fluent_strict": _pair(45, 48, 0.7)}})  # fmt: skip
    layers = [
        {"layer": L, "alpha": 2.0, "success": _rate(0), "fluent_strict": _rate(f),
         "paired_vs_deepest": {"success": {"p": 1.0}, "fluent_strict": {"p": p}},
         "validation": [{"alpha": a, "k": 5, "successes": 0, "fluent": f // 4 - int(a), "strict": f // 4, "n": 24}
                        for a in (1.0, 2.0)]}
        for L, f, p in ((8, 0, 0.001), (15, 10, 0.01), (27, 40, 1.0))
    ]  # fmt: skip
    two = {"layers": [27, 15], "beats_single_layer_on_validation": True, "success": _rate(6), "scale": 0.5,
           "validation": [{"scale": 0.5, "successes": 2, "fluent": 14, "strict": 20, "n": 24}],
           "fluent_strict": _rate(22)}  # fmt: skip
    _write(root, "layers", "french", {"n": 96, "deepest": 27, "layers": layers, "recipe": {"layer": 15},
                                      "two_layers": two})  # fmt: skip
    points = [_point("full", "all", [1, 2, 3], 45, 1.0), _point("drop", "without 1", [2, 3], 20, 0.001),
              _point("drop", "without 2", [1, 3], 44, 0.9), _point("drop", "without 3", [1, 2], 46, 1.0),
              _point("add", "first 1", [1], 5, 0.001), _point("add", "first 2", [1, 2], 46, 1.0)]  # fmt: skip
    _write(root, "ablation", "french", {"n": 96, "points": points})
    test = {"n_sequences": 100, "a_lower": 90, "median_ratio": 0.5, "p": 1e-9}
    saes = {m: {"reports": {"fast_format": _report(2.0 + d, -0.5 + d, 0.24), "bt_format": _report(2.3 - d, 0.5, None)}}
            for m, d in (("fast", 0.0), ("bt", 0.3))}  # fmt: skip
    paired = {fmt: {"mse": test, "mse_st": test} for fmt in ("fast", "bt")}
    _write(root, "fast_vs_bt", "seed0", {"saes": saes, "paired": paired})
    pv = {"success": {"p": 1.0}, "fluent_strict": {"p": 0.02}}
    effect = {"latents": [7, 8], "jaccard_with_recipe": 0.33, "alpha": 2.0, "success": _rate(1),
              "fluent_strict": _rate(30), "paired": {"steered": pv, "mean_difference": pv}}  # fmt: skip
    compared = {m: {"success": _rate(3), "fluent_strict": _rate(45)} for m in ("steered", "mean_difference")}
    _write(root, "selection", "french", {"n": 96, "output_effect": effect, "compared": compared})
    _write(root, "joint", "french+postscript", _joint())
    out = tmp_path / "out"
    text = write_findings(out, root).read_text(encoding="utf-8")
    assert "Not yet re-measured" not in text
    assert "`french` output effect 1% success / 31% fluent strict vs SAIF's 3% / 47% (p 0.020)" in text
    assert "| `french` | 7, 8 | 0.33 | 2 |" in text
    assert "Post significantly better (McNemar p < 0.05) for 1 of 1 (french), pre for 0 (none)" in text
    assert "| `french` | 96 | 83% [75, 89] / 52% [42, 62] (0.001) |" in text and "0.43 (k=5) / 0.60" in text
    assert "better than every other (McNemar p < 0.05, fluent strict) for 1 of 1 instructions (french)" in text
    assert "the layer it picks would change for 1 of 1 (`french`)" in text  # L27 ranks first on validation
    assert "for 1 of 1 (`french` (L27 + L15: test success 6% [3, 13], fluent strict 23%)); the recipes stay" in text
    assert "`french` all 3 47% vs the first alone 5% (p 0.001); dropping 1 lowers it significantly" in text
    assert "| `french` | without 1 | 2, 3 | 20.0 |" in text
    assert "seed0: log2 MSE_st -0.50 (FAST) vs -0.20 (BT), FAST lower on 90/100 held-out chats" in text
    assert "| seed0 | FAST | fast | 2.000 | -0.500 | 0.800 | 64.000 | 0.010 | 0.240 | 0.980 |" in text
    assert "`french+postscript` original 0% [0, 4] → steered 42% [32, 52] at weights 1 × 1" in text
    assert "met for 1 of 1 pairs (french+postscript)." in text and "Not reproduced" not in text
    assert "| 1 × 1 | 2% [0, 11] | 2% | 83% | 10% |" in text  # the validation grid
    assert "| **steered by both recipes** (no instruction) | 42% [32, 52] | 43% | 83% | 47% | 20% | 30.0 | – |" in text
    assert "| random latents, each part's norm | 0% [0, 4] | 0% | 0% | 0% | 20% | 30.0 | <0.001 |" in text
    assert (out / "figures" / "layers.png").stat().st_size > 1000
    assert (out / "figures" / "ablation.png").stat().st_size > 1000
    index = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert set(index["fast_vs_bt"]) == {"fast_vs_bt/seed0"} and set(index["layers"]) == {"layers/french"}
    # At a glance: a row per claim in the registry's order, each verdict counted from the same numbers as the lines.
    rows = {row[0]: row[1:] for row in glance_rows(text)}
    assert list(rows) == [
        "SAIF: steering with instruction-relevant latents makes the model follow an instruction it was not given",
        "SAE latents steer better than simple controls (mean difference, random latents or direction, top-1)",
        "AxBench: prompting beats steering",
        "SAIF: several latents steer better than one (top-k vs the top-1 latent at the same norm)",
        "SAIF: the instruction after the content (post) works better than before it (pre)",
        "SAIF: latents of the final layers steer best",
        "SAIF: several latents steer better than one (drop-one / add-one; the norm grows with each latent)",
        "FAST: training on chats as the model reads them reconstructs special tokens much better than block training",
        "Latents chosen by their output effect (GradSAE-style) steer better than SAIF's input contrast",
        "SAIF's future work: two instructions at once (both recipes' latents together)",
    ]
    steers = rows[STEERS]
    assert steers[1:] == [
        "0 of 1 instructions gain ≥ 30 points; best `french` 0% → 10% [6, 18] (n = 96 each)",
        "partial",  # the interval is above the unsteered rate, the gain under the bar
        "[figure](figures/steering_methods.png)",
    ]
    placement = rows["SAIF: the instruction after the content (post) works better than before it (pre)"]
    assert placement[1].startswith("prompted: post above pre (p < 0.05) for 1 of 1, pre above for 0; steered: post")
    assert placement[2:] == ["partial", "–"]  # prompted yes, steered no
    assert rows["SAIF: latents of the final layers steer best"][2:] == ["reproduced", "[figure](figures/layers.png)"]
    selection = rows["Latents chosen by their output effect (GradSAE-style) steer better than SAIF's input contrast"]
    assert "for 0 of 1, below for 1" in selection[1] and selection[2] == "not reproduced"
    assert rows["SAIF's future work: two instructions at once (both recipes' latents together)"][1:3] == [
        "the bar (≥ 30 points) met for 1 of 1 pairs; best `french+postscript` 42% [32, 52] vs original 0% and prompted "
        "with both 55% (n = 96 each)",
        "reproduced",
    ]
    assert_glance_table(text, out)
    assert_folded(text, claims(studies(), {s.name: load_studies(root, s.name) for s in studies()}))


def test_missing_replications_are_named(tmp_path: Path) -> None:
    root = tmp_path / "studies"
    _write(root, "steering", "french", _doc("french", 10)["result"])
    _write(root, "placement", "french", {"n": 96, "prompted": {"fluent_strict": _pair(80, 50, 0.001),
           "strict": _pair(90, 88, 0.5)}, "discovery": {"k": 1, "jaccard_at_1": 0.0, "jaccard_at_20": 0.5},
           "steering": {"success": _pair(3, 2, 1.0), "fluent_strict": _pair(45, 48, 0.7)}})  # fmt: skip
    text = write_findings(tmp_path / "out", root).read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("- **Not yet re-measured"))
    assert "post vs pre" not in line and "final layers" in line and "two seeds" in line


def glance_rows(text: str) -> list[list[str]]:
    """The claims-at-a-glance table's rows (its header left out) as lists of cells."""
    block = text.split("\n## Claims at a glance\n", 1)[1].split("\n## ", 1)[0]
    lines = [x for x in block.splitlines() if x.startswith("| ")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])] for line in lines[1:]]


def assert_glance_table(text: str, out: Path) -> None:
    """The table opens the document after the protocol, each cell filled, each verdict from the fixed set, each
    figure link pointing at a file written beside the document."""
    assert text.index("## Protocol") < text.index("## Claims at a glance") < text.index("## Claims and what")
    rows = glance_rows(text)
    assert rows and all(len(row) == 5 and all(row) for row in rows)
    assert {row[3] for row in rows} <= set(VERDICTS)
    for row in rows:
        link = re.fullmatch(r"\[figure\]\((figures/[^)]+)\)", row[4])
        assert link or row[4] == "–", row
        if link:
            assert (out / link.group(1)).stat().st_size > 1000


def assert_folded(text: str, claim_lines: list[str]) -> None:
    """Every claim line is in the document, inside a `<details>` block with blank lines around its Markdown; every
    section's heading stays outside, each block it heads folded; the blocks are balanced."""
    lines = text.splitlines()
    assert claim_lines
    for line in claim_lines:
        i = lines.index(line)
        assert lines[i - 1] == "" and lines[i - 2].startswith("<details><summary>") and lines[i + 1] == ""
        assert lines[i + 2] == "</details>"
    assert text.count("<details>") == text.count("</details>") > len(claim_lines)
    details = [i for i, x in enumerate(lines) if x.startswith("<details>")]
    assert all(x.endswith("</summary>") and lines[i + 1] == "" for i, x in ((i, lines[i]) for i in details))
    headings = [i for i, x in enumerate(lines) if x.startswith("## ")]
    assert not any(lines[i].startswith("## ") for i in range(len(lines)) if _inside(lines, i))
    after = headings[headings.index(lines.index("## Claims and what this model showed")) + 1 :]
    assert after and all(lines[i + 2].startswith("<details><summary>") for i in after)


def _inside(lines: list[str], i: int) -> bool:
    """Whether line `i` is inside a `<details>` block."""
    depth = 0
    for x in lines[:i]:
        depth += x.startswith("<details>") - (x == "</details>")
    return depth > 0


def test_glance_rows_and_folded_detail_from_the_shipped_results(tmp_path: Path) -> None:
    """The shipped results' document: a glance row per claim of every shipped study, each filled, the figures on
    disk, every claim line of the detail still there (folded), and the same file when written again."""
    registry = studies()
    shipped = {s.name: load_studies(study=s.name) for s in registry}
    rows = glances(registry, shipped)
    assert rows and len({g.claim for g in rows}) == len(rows)
    text = write_findings(tmp_path / "a").read_text(encoding="utf-8")
    assert [row[0] for row in glance_rows(text)] == [" ".join(g.claim.split()) for g in rows]
    assert_glance_table(text, tmp_path / "a")
    assert_folded(text, claims(registry, shipped))
    # Every number of the detail is kept, only folded: each study's section is in the document line for line,
    # its headings' text in a heading or a summary.
    for s in registry:
        for line in s.section(shipped[s.name], tmp_path / "figures") if shipped[s.name] else []:
            title = line.lstrip("#").strip()
            assert line in text if not line.startswith("#") else title in text or summary_html(title) in text, line
    assert write_findings(tmp_path / "b").read_text(encoding="utf-8") == text


def test_a_glance_row_needs_every_cell_and_a_known_verdict() -> None:
    assert Glance("c", "s", "1 of 2", "partial").figure is None
    with pytest.raises(ValueError, match="not one of reproduced"):
        Glance("c", "s", "1 of 2", "works")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs its claim"):
        Glance("c", "", "1 of 2", "partial")


def test_tally_reads_counts_as_verdicts() -> None:
    assert [tally(7, 7), tally(4, 7), tally(4, 7, 1), tally(0, 7, 3), tally(0, 0)] == [
        "reproduced", "partial", "mixed", "not reproduced", "not reproduced",
    ]  # fmt: skip
    assert [tally(3, 3, question=True), tally(1, 3, question=True), tally(0, 3, question=True)] == [
        "supported", "mixed", "not supported",
    ]  # fmt: skip
