"""`distil` end to end on the real model at a tiny budget: it prints the vector's reading, saves it, and the saved
vector loads back as trained; bad settings fail before the model loads."""

from __future__ import annotations

import json

import torch

from saif_ui.cli import build_parser, main
from saif_ui.engine.config import shipped_saes
from saif_ui.saif.distil.config import DistilConfig
from saif_ui.saif.distil.store import load_distilled


def test_flags_and_defaults_come_from_the_config() -> None:
    args = build_parser().parse_args(["distil", "--instruction", "french"])
    cfg = DistilConfig()
    assert (args.basis, args.objective, args.steps, args.lr, args.layer) == (
        cfg.basis,
        cfg.objective,
        cfg.steps,
        cfg.lr,
        cfg.layer,
    )
    args = build_parser().parse_args(["distil", "--instruction", "x", "--basis", "free", "--layer", "8"])
    assert args.basis == "free" and args.layer == 8
    # every flag the README shows parses (positions was once missing)
    args = build_parser().parse_args(["distil", "--instruction", "x", "--positions", "generated", "--objective", "ce"])
    assert (args.positions, args.objective) == ("generated", "ce")


def test_bad_settings_fail_before_the_model_loads(monkeypatch, capsys) -> None:
    def no_model(*_: object, **__: object) -> None:
        raise AssertionError("the model must not load for a bad argument")

    monkeypatch.setattr("saif_ui.cli.distil.engine_from_args", no_model)
    assert main(["distil", "--instruction", "french", "--steps", "0"]) == 2
    assert "steps must be in 1..2000" in capsys.readouterr().err


def test_distil_prints_its_reading_and_saves_the_vector(tmp_path, capsys) -> None:
    l15 = next(s for s in shipped_saes() if "L15" in s)
    out = tmp_path / "vec"
    argv = ["distil", "--instruction", "french", "--sae", l15, "--cache-dir", str(tmp_path / "cache"), "--json"]
    argv += ["--basis", "free", "--steps", "2", "--n-train", "2", "--n-val", "0", "--out", str(out)]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["instruction"] == "french" and data["layer"] == 15 and data["basis"] == "free"
    reading = data["reading"]
    assert reading["sae"] == "L15_fast_topk64" and 0 < reading["nonzero"] <= 576
    assert 0 <= reading["share"]["5"] <= reading["share"]["10"] <= reading["share"]["20"] <= 1
    assert reading["saif_overlap"]["k"] == 20 and len(reading["effect"]) == 1
    assert -1 <= reading["effect"][0]["cosine"] <= 1
    assert data["spec"]["vectors"][0]["layer"] == 15
    saved, manifest = load_distilled(out)
    assert torch.allclose(saved.vector, torch.tensor(data["spec"]["vectors"][0]["vector"]), atol=1e-6)
    assert manifest["reading"] == reading and saved.config.steps == 2
