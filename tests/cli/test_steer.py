"""The steering CLI (`cli.steer`, with `cli.spec`'s flags) end to end on the real model and the shipped late-layer
SAE: JSON carries every text."""

from __future__ import annotations

import json

import pytest

from saif_ui.cli import main
from saif_ui.engine.config import shipped_saes
from saif_ui.saif.steering.recipe import load_recipes
from tests.cli.conftest import hand_recipe, json_out


@pytest.fixture(scope="module")
def l24() -> str:
    """The shipped late-layer SAE's folder (the commands attach it themselves)."""
    return next(s for s in shipped_saes() if "L24" in s)


def test_steer_json_has_spec_and_three_judged_outputs(l24, capsys) -> None:
    args = ["steer", "--sae", l24, "--instruction", "french", "--content", "Dogs like to run in the park."]
    assert main([*args, "--alpha", "1", "--top-k", "3", "--max-new-tokens", "8", "--json"]) == 0
    data = json_out(capsys)
    assert len(data["spec"]["latents"]) == 3 and data["spec"]["alpha"] == 1.0
    for mode in ("original", "steered", "prompted"):
        assert {"text", "strict", "loose"} <= set(data[mode]) and data[mode]["text"]


def test_steer_two_instructions_at_once_with_a_weight_each(capsys) -> None:
    args = ["steer", "--instruction", "french", "--instruction", "question", "--content", "Owls hunt at night."]
    assert main([*args, "--weights", "1,2", "--max-new-tokens", "8", "--json"]) == 0
    data = json_out(capsys)
    assert data["instructions"] == ["french", "question"] and data["weights"] == [1.0, 2.0]
    # Each part is the instruction's validated recipe as it steers (an adopted distilled vector, or SAIF's latents),
    # as shipped; its weight scales the recipe's own α.
    recipes = load_recipes()
    shipped = [json.loads(recipes[i].steering.to_json()) for i in data["instructions"]]
    assert [p["spec"] for p in data["joint"]["parts"]] == shipped
    for mode in ("original", "steered", "prompted"):
        assert set(data[mode]["verdicts"]) == {"french", "question"}
        assert data[mode]["strict"] == all(data[mode]["verdicts"].values())
    assert data["wording"] == "Translate the text into French. Rewrite the text as a question."
    assert main([*args, "--max-new-tokens", "8"]) == 0
    text = capsys.readouterr().out
    alpha = recipes["french"].steering.alpha
    assert f"joint: french × 1 (α {alpha:g}" in text and "question × 1" in text and "--- steered:" in text


def test_steer_with_twelve_hand_picked_latents_and_their_strengths(l24, capsys) -> None:
    ids = [436, 3798, 2070, 2969, 2284, 3361, 2785, 1326, 419, 629, 871, 794]
    strengths = [1.0, 0.5, 0.25, 1.5, 1.0, 1.0, 0.75, 1.0, 1.0, 2.0, -0.5, 1.0]
    args = ["steer", "--sae", l24, "--instruction", "french", "--content", "The library opens at nine."]
    picked = ["--latents", ",".join(map(str, ids)), "--strengths", ",".join(map(str, strengths))]
    assert main([*args, *picked, "--alpha", "0.5", "--max-new-tokens", "8", "--json"]) == 0
    data = json_out(capsys)
    assert [e["latent"] for e in data["spec"]["latents"]] == ids
    assert [e["strength"] for e in data["spec"]["latents"]] == strengths and data["spec"]["alpha"] == 0.5
    assert all(e["mean_act"] is not None for e in data["spec"]["latents"])  # from discovery's statistics
    assert data["steered"]["text"] and data["steered"]["text"] != data["original"]["text"]
    assert main([*args, "--latents", "436,3798", "--strengths", "1", "--max-new-tokens", "4"]) == 2
    assert "--strengths gives 1 values for 2 --latents" in capsys.readouterr().err


def test_steer_reads_a_saved_spec_and_rejects_a_bad_one(l24, tmp_path, capsys) -> None:
    spec = {"latents": [{"sae": "L24_fast_topk64", "layer": 24, "latent": 5, "mean_act": 2.0}], "alpha": 3.0}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    args = ["steer", "--sae", l24, "--instruction", "french", "--content", "Hi there.", "--max-new-tokens", "4"]
    assert main([*args, "--spec", str(tmp_path / "spec.json"), "--alpha", "2", "--json"]) == 0
    assert json_out(capsys)["spec"]["alpha"] == 2.0
    (tmp_path / "bad.json").write_text('{"alpha": "x", "oops": 1}')
    assert main([*args, "--spec", str(tmp_path / "bad.json")]) == 2
    assert "unknown steering spec fields: oops" in capsys.readouterr().err
    assert main(["steer", "--instruction", "klingon", "--content", "x"]) == 2


def test_special_grid_command(l24, capsys) -> None:
    args = ["special-grid", "--sae", l24, "--content", "Tell me about tea.", "--alphas", "0,100"]
    assert main([*args, "--max-new-tokens", "6", "--json"]) == 0
    data = json_out(capsys)
    assert data["token"] and [r["alpha"] for r in data["rows"]] == [0.0, 100.0]


def test_steer_with_the_mean_difference_baseline(l24, capsys) -> None:
    args = ["steer", "--sae", l24, "--instruction", "french", "--content", "Snow fell all night.", "--mean-diff"]
    assert main([*args, "--layer", "24", "--alpha", "1", "--max-new-tokens", "6", "--json"]) == 0
    spec = json_out(capsys)["spec"]
    assert spec["latents"] == [] and len(spec["vectors"]) == 1 and spec["vectors"][0]["layer"] == 24
    assert spec["meta"]["baseline"] == "mean_difference"


def test_steer_uses_the_recipe_unless_told_otherwise(l24, tmp_path, monkeypatch, capsys) -> None:
    hand_recipe(tmp_path, monkeypatch)
    args = ["steer", "--sae", l24, "--instruction", "french", "--content", "Hi there.", "--max-new-tokens", "4"]
    assert main([*args, "--json"]) == 0
    spec = json_out(capsys)["spec"]
    assert [e["latent"] for e in spec["latents"]] == [5] and spec["alpha"] == 3.0
    assert main([*args, "--no-recipe", "--json"]) == 0
    assert len(json_out(capsys)["spec"]["latents"]) == 5  # the top-5 of discovery


def test_steer_clamps_hand_picked_latents(l24, capsys) -> None:
    from saif_ui.cli.spec import METHODS as FLAG_METHODS
    from saif_ui.saif.steering.spec import METHODS

    assert FLAG_METHODS == METHODS
    args = ["steer", "--sae", l24, "--instruction", "french", "--content", "Dogs like to run in the park."]
    picked = ["--latents", "5,9", "--scale", "unit", "--method", "clamp", "--alpha", "20"]
    assert main([*args, *picked, "--max-new-tokens", "6", "--json"]) == 0
    data = json_out(capsys)
    assert data["spec"]["method"] == "clamp" and [e["latent"] for e in data["spec"]["latents"]] == [5, 9]
    assert data["steered"]["text"]
    assert main([*args, "--mean-diff", "--layer", "24", "--method", "clamp"]) == 2
    assert "raw vector cannot be clamped" in capsys.readouterr().err
