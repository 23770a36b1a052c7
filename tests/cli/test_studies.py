"""The study commands' argument handling and the `screen` command end to end on the real model (a tiny screen)."""

from __future__ import annotations

import json

import pytest

from saif_ui.cli import build_parser, main
from saif_ui.saif.inputs.catalogue import CANDIDATES_PATH


def test_screen_arguments() -> None:
    args = build_parser().parse_args(["screen"])
    assert args.n_contents is None and args.max_new_tokens == 48 and not args.write and not args.json
    assert args.first_stage == 0  # every candidate gets every content unless asked otherwise
    args = build_parser().parse_args(["screen", "--n-contents", "32", "--write", "--json"])
    assert args.n_contents == 32 and args.write and args.json


def test_screen_rejects_a_bad_n_before_loading_the_model(monkeypatch, capsys) -> None:
    def no_model(*_: object, **__: object) -> None:
        raise AssertionError("the model must not load for a bad argument")

    monkeypatch.setattr("saif_ui.cli.studies.engine_from_args", no_model)
    assert main(["screen", "--n-contents", "0"]) == 2
    assert "n_contents must be at least 1" in capsys.readouterr().err


@pytest.fixture
def small_candidates(tmp_path):
    """Two of the shipped candidates in a file of their own."""
    data = json.loads(CANDIDATES_PATH.read_text(encoding="utf-8"))
    data["instructions"] = [e for e in data["instructions"] if e["id"] in ("spanish", "question")]
    path = tmp_path / "candidates.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_screen_command_prints_rates_with_intervals(engine, small_candidates, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(engine.config, "cache_dir", tmp_path / "cache")
    monkeypatch.setattr("saif_ui.cli.studies.engine_from_args", lambda args, warmup=True: engine)
    base = ["screen", "--candidates", str(small_candidates), "--n-contents", "2", "--max-new-tokens", "6"]
    assert main([*base, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in data["candidates"]] == ["spanish", "question"]
    for row in data["candidates"]:
        assert row["n"] == 2 and row["strict_ci"][0] <= row["strict"] <= row["strict_ci"][1]
    assert data["provenance"]["git_commit"] and data["provenance"]["candidates_version"].startswith("v1-")
    assert main(base) == 0  # cached generations: a plain table this time
    out = capsys.readouterr().out
    assert "strict [95% CI]" in out and "spanish" in out and "kept" in out


def test_study_commands_check_their_items_before_loading_the_model(monkeypatch, capsys) -> None:
    def no_model(*_: object, **__: object) -> None:
        raise AssertionError("the model must not load for a bad argument")

    monkeypatch.setattr("saif_ui.cli.studies.engine_from_args", no_model)
    assert main(["steering-study", "--instructions", "klingon"]) == 2
    assert "unknown instruction 'klingon'" in capsys.readouterr().err
    assert main(["joint-study", "--pairs", "french+french"]) == 2
    assert "two different instructions" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--seeds must be comma-separated integers"):
        main(["fast-vs-bt-study", "--seeds", "0,x"])
    args = build_parser().parse_args(["fast-vs-bt-study"])
    assert args.seeds == "0,1" and not args.force and not hasattr(args, "instructions")
