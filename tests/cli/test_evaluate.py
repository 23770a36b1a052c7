"""The evaluation CLI (`cli.evaluate`) end to end on the real model and the shipped late-layer SAE: an α sweep, a
joint grid of weights, and `--auto` at the instruction's recipe (an adopted vector included)."""

from __future__ import annotations

import json

import pytest

from saif_ui.cli import main
from saif_ui.engine.config import shipped_saes
from tests.cli.conftest import hand_recipe, json_out


@pytest.fixture(scope="module")
def l24() -> str:
    """The shipped late-layer SAE's folder (the commands attach it themselves)."""
    return next(s for s in shipped_saes() if "L24" in s)


def test_evaluate_two_instructions_on_one_cell_of_weights(capsys) -> None:
    args = ["evaluate", "--instruction", "french", "--instruction", "question", "--n-contents", "4"]
    assert main([*args, "--weights", "1,1", "--max-new-tokens", "8", "--json"]) == 0
    data = json_out(capsys)
    assert data["n"] == 4 and [c["weights"] for c in data["cells"]] == [[1.0, 1.0]]
    assert set(data["baselines"]) == {"original", "prompted", "prompted_french", "prompted_question"}
    assert data["cells"][0]["success"]["n"] == 4 and "prompted" in data["cells"][0]["paired"]


def test_evaluate_json_has_results_and_baselines_with_outputs(l24, tmp_path, capsys) -> None:
    contents = tmp_path / "c.jsonl"
    contents.write_text('{"id": "a", "text": "Birds fly south in winter."}\n{"id": "b", "text": "Tea is hot."}\n')
    args = ["evaluate", "--sae", l24, "--instruction", "french", "--contents", str(contents), "--alphas", "0,1"]
    assert main([*args, "--max-new-tokens", "6", "--json", "--out", str(tmp_path / "e.json")]) == 0
    data = json_out(capsys)
    assert [r["alpha"] for r in data["results"]] == [0.0, 1.0]
    assert set(data["baselines"]) == {"original", "prompted"}
    assert [o["id"] for o in data["baselines"]["prompted"]["outputs"]] == ["a", "b"]
    assert json.loads((tmp_path / "e.json").read_text())["results"] == data["results"]
    assert main([*args, "--checker", "nope"]) == 2
    assert "unknown checker 'nope'" in capsys.readouterr().err


def _evaluate_auto(l24: str, tmp_path, capsys) -> tuple[list[str], dict]:
    """`evaluate --auto --json` of french on two contents of our own: its arguments and its JSON."""
    contents = tmp_path / "c.jsonl"
    rows = [{"id": "a1", "text": "Dogs like to run in the park."}, {"id": "b2", "text": "The sea is cold in May."}]
    contents.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["evaluate", "--sae", l24, "--instruction", "french", "--contents", str(contents), "--auto", "--json"]
    assert main([*args, "--max-new-tokens", "6"]) == 0
    return args, json_out(capsys)


def test_evaluate_auto_json_follows_the_contract(l24, tmp_path, monkeypatch, capsys) -> None:
    hand_recipe(tmp_path, monkeypatch)
    args, data = _evaluate_auto(l24, tmp_path, capsys)
    r = data["recipe"]
    assert (r["layer"], r["latents"], r["alpha"], r["positions"], r["fidelity_threshold"]) == (
        24,
        [5],
        3.0,
        "all",
        20.0,
    )
    assert len(data["results"]) == 1 and data["results"][0]["alpha"] == 3.0
    for block in (data["baselines"]["original"], data["baselines"]["prompted"], data["results"][0]):
        assert [o["id"] for o in block["outputs"]] == ["a1", "b2"]
        assert all(
            isinstance(o["text"], str) and set(o["fidelity"]) >= {"content", "content_mismatched"}
            for o in block["outputs"]
        )
        assert block["n"] == 2 and "success" in block and len(block["ci"]["success"]) == 2
    assert main([*args, "--alphas", "1,2"]) == 2
    assert "--auto evaluates at the recipe's α only" in capsys.readouterr().err


def test_evaluate_auto_without_a_recipe_says_so(l24, tmp_path, monkeypatch, capsys) -> None:
    from saif_ui.saif.steering import recipe as recipes

    monkeypatch.setattr(recipes, "RECIPES_PATH", tmp_path / "none.json")
    assert main(["evaluate", "--sae", l24, "--instruction", "german", "--auto", "--json"]) == 2
    assert "'german' has no validated recipe" in capsys.readouterr().err


def test_evaluate_auto_applies_an_adopted_vector_and_keeps_the_contract(l24, tmp_path, monkeypatch, capsys) -> None:
    from dataclasses import replace

    from saif_ui.saif.steering import recipe as recipes
    from saif_ui.saif.steering.spec import SteeringSpec, SteerVector

    hand_recipe(tmp_path, monkeypatch)
    vector = SteeringSpec(vectors=(SteerVector(15, tuple([0.01] * 576)),), alpha=1.5)
    made = replace(recipes.require_recipe("french"), adopted=recipes.Adopted("distil_free", vector, {"n": 24}))
    recipes.save_recipe(made, recipes.RECIPES_PATH)
    _, data = _evaluate_auto(l24, tmp_path, capsys)
    r = data["recipe"]
    assert (r["method"], r["layer"], r["latents"], r["vectors"], r["alpha"]) == ("distil_free", 15, [], 1, 1.5)
    assert r["saif"]["latents"] == [5] and r["adopted"]["validation"] == {"n": 24}
    assert len(data["results"]) == 1 and data["results"][0]["alpha"] == 1.5
    assert [o["id"] for o in data["results"][0]["outputs"]] == ["a1", "b2"]
    assert "success" in data["results"][0]["ci"]
