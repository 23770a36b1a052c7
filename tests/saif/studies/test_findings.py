"""FINDINGS.md is written from shipped study documents alone: no model, every number from the files."""

from __future__ import annotations

import json
from pathlib import Path

from saif_ui.cli import main
from saif_ui.saif.studies.findings import write_findings
from saif_ui.saif.studies.findings_steering import METHODS, verdict


def _block(k: int, n: int = 96) -> dict:
    from saif_ui.saif.judge.stats import wilson_interval

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
