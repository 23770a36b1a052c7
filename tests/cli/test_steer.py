"""The steering CLI end to end on the real model and the shipped late-layer SAE: JSON carries every text."""

from __future__ import annotations

import json
import shutil

import pytest

from saif_ui.cli import main
from saif_ui.engine.config import shipped_saes
from saif_ui.engine.decoding import Decoding
from saif_ui.saif.inputs.catalogue import DEFAULT_CATALOGUE_PATH, load_catalogue
from saif_ui.saif.steering.recipe import load_recipes
from saif_ui.saif.studies.compliance import prompted_compliance, write_compliance


@pytest.fixture(scope="module")
def l24() -> str:
    return next(s for s in shipped_saes() if "L24" in s)


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_steer_json_has_spec_and_three_judged_outputs(l24, capsys) -> None:
    args = ["steer", "--sae", l24, "--instruction", "french", "--content", "Dogs like to run in the park."]
    assert main([*args, "--alpha", "1", "--top-k", "3", "--max-new-tokens", "8", "--json"]) == 0
    data = _json(capsys)
    assert len(data["spec"]["latents"]) == 3 and data["spec"]["alpha"] == 1.0
    for mode in ("original", "steered", "prompted"):
        assert {"text", "strict", "loose"} <= set(data[mode]) and data[mode]["text"]


def test_steer_two_instructions_at_once_with_a_weight_each(capsys) -> None:
    args = ["steer", "--instruction", "french", "--instruction", "question", "--content", "Owls hunt at night."]
    assert main([*args, "--weights", "1,2", "--max-new-tokens", "8", "--json"]) == 0
    data = _json(capsys)
    assert data["instructions"] == ["french", "question"] and data["weights"] == [1.0, 2.0]
    # Each part is the instruction's validated recipe, as shipped; its weight scales the recipe's own α.
    recipes = load_recipes()
    shipped = [json.loads(recipes[i].spec.to_json()) for i in data["instructions"]]
    assert [p["spec"] for p in data["joint"]["parts"]] == shipped
    for mode in ("original", "steered", "prompted"):
        assert set(data[mode]["verdicts"]) == {"french", "question"}
        assert data[mode]["strict"] == all(data[mode]["verdicts"].values())
    assert data["wording"] == "Translate the text into French. Rewrite the text as a question."
    assert main([*args, "--max-new-tokens", "8"]) == 0
    text = capsys.readouterr().out
    assert "joint: french × 1 (α 2" in text and "question × 1" in text and "--- steered:" in text


def test_evaluate_two_instructions_on_one_cell_of_weights(capsys) -> None:
    args = ["evaluate", "--instruction", "french", "--instruction", "question", "--n-contents", "4"]
    assert main([*args, "--weights", "1,1", "--max-new-tokens", "8", "--json"]) == 0
    data = _json(capsys)
    assert data["n"] == 4 and [c["weights"] for c in data["cells"]] == [[1.0, 1.0]]
    assert set(data["baselines"]) == {"original", "prompted", "prompted_french", "prompted_question"}
    assert data["cells"][0]["success"]["n"] == 4 and "prompted" in data["cells"][0]["paired"]


def test_steer_with_twelve_hand_picked_latents_and_their_strengths(l24, capsys) -> None:
    ids = [436, 3798, 2070, 2969, 2284, 3361, 2785, 1326, 419, 629, 871, 794]
    strengths = [1.0, 0.5, 0.25, 1.5, 1.0, 1.0, 0.75, 1.0, 1.0, 2.0, -0.5, 1.0]
    args = ["steer", "--sae", l24, "--instruction", "french", "--content", "The library opens at nine."]
    picked = ["--latents", ",".join(map(str, ids)), "--strengths", ",".join(map(str, strengths))]
    assert main([*args, *picked, "--alpha", "0.5", "--max-new-tokens", "8", "--json"]) == 0
    data = _json(capsys)
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
    assert _json(capsys)["spec"]["alpha"] == 2.0
    (tmp_path / "bad.json").write_text('{"alpha": "x", "oops": 1}')
    assert main([*args, "--spec", str(tmp_path / "bad.json")]) == 2
    assert "unknown steering spec fields: oops" in capsys.readouterr().err
    assert main(["steer", "--instruction", "klingon", "--content", "x"]) == 2


def test_evaluate_json_has_results_and_baselines_with_outputs(l24, tmp_path, capsys) -> None:
    contents = tmp_path / "c.jsonl"
    contents.write_text('{"id": "a", "text": "Birds fly south in winter."}\n{"id": "b", "text": "Tea is hot."}\n')
    args = ["evaluate", "--sae", l24, "--instruction", "french", "--contents", str(contents), "--alphas", "0,1"]
    assert main([*args, "--max-new-tokens", "6", "--json", "--out", str(tmp_path / "e.json")]) == 0
    data = _json(capsys)
    assert [r["alpha"] for r in data["results"]] == [0.0, 1.0]
    assert set(data["baselines"]) == {"original", "prompted"}
    assert [o["id"] for o in data["baselines"]["prompted"]["outputs"]] == ["a", "b"]
    assert json.loads((tmp_path / "e.json").read_text())["results"] == data["results"]
    assert main([*args, "--checker", "nope"]) == 2
    assert "unknown checker 'nope'" in capsys.readouterr().err


def test_special_grid_command(l24, capsys) -> None:
    args = ["special-grid", "--sae", l24, "--content", "Tell me about tea.", "--alphas", "0,100"]
    assert main([*args, "--max-new-tokens", "6", "--json"]) == 0
    data = _json(capsys)
    assert data["token"] and [r["alpha"] for r in data["rows"]] == [0.0, 100.0]


def test_prompted_compliance_is_measured_and_written(engine, tmp_path) -> None:
    rates = prompted_compliance(engine, ["french", "uppercase"], n_contents=2, decoding=Decoding(max_new_tokens=8))
    assert set(rates) == {"french", "uppercase"}
    assert all(0.0 <= r["strict"] <= r["loose"] <= 1.0 and r["n"] == 2 for r in rates.values())
    copy = tmp_path / "instructions.json"
    shutil.copy(DEFAULT_CATALOGUE_PATH, copy)
    write_compliance({"french": {"strict": 0.75}}, "test run", copy)
    cat = load_catalogue(copy)
    assert cat.get("french").prompted_compliance == 0.75
    assert cat.version == load_catalogue().version  # rates do not change the catalogue's version
    assert json.loads(copy.read_text())["prompted_compliance_about"] == "test run"


def test_steer_with_the_mean_difference_baseline(l24, capsys) -> None:
    args = ["steer", "--sae", l24, "--instruction", "french", "--content", "Snow fell all night.", "--mean-diff"]
    assert main([*args, "--layer", "24", "--alpha", "1", "--max-new-tokens", "6", "--json"]) == 0
    spec = _json(capsys)["spec"]
    assert spec["latents"] == [] and len(spec["vectors"]) == 1 and spec["vectors"][0]["layer"] == 24
    assert spec["meta"]["baseline"] == "mean_difference"


def _hand_recipe(tmp_path, monkeypatch) -> None:
    """A recipe for french on the shipped L24 SAE, saved where the CLI reads recipes."""
    from saif_ui.saif.steering import recipe as recipes
    from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent

    spec = SteeringSpec(latents=(SteerLatent("L24_fast_topk64", 24, 5, mean_act=2.0),), alpha=3.0)
    made = recipes.Recipe("french", "saif_topk", spec, k=1, fidelity_threshold=20.0, validation={"n": 96})
    monkeypatch.setattr(recipes, "RECIPES_PATH", tmp_path / "recipes.json")
    recipes.save_recipe(made, recipes.RECIPES_PATH)  # writes go where the CLI now reads


def _evaluate_auto(l24: str, tmp_path, capsys) -> tuple[list[str], dict]:
    """`evaluate --auto --json` of french on two contents of our own: its arguments and its JSON."""
    contents = tmp_path / "c.jsonl"
    rows = [{"id": "a1", "text": "Dogs like to run in the park."}, {"id": "b2", "text": "The sea is cold in May."}]
    contents.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["evaluate", "--sae", l24, "--instruction", "french", "--contents", str(contents), "--auto", "--json"]
    assert main([*args, "--max-new-tokens", "6"]) == 0
    return args, _json(capsys)


def test_evaluate_auto_json_follows_the_contract(l24, tmp_path, monkeypatch, capsys) -> None:
    _hand_recipe(tmp_path, monkeypatch)
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


def test_steer_uses_the_recipe_unless_told_otherwise(l24, tmp_path, monkeypatch, capsys) -> None:
    _hand_recipe(tmp_path, monkeypatch)
    args = ["steer", "--sae", l24, "--instruction", "french", "--content", "Hi there.", "--max-new-tokens", "4"]
    assert main([*args, "--json"]) == 0
    spec = _json(capsys)["spec"]
    assert [e["latent"] for e in spec["latents"]] == [5] and spec["alpha"] == 3.0
    assert main([*args, "--no-recipe", "--json"]) == 0
    assert len(_json(capsys)["spec"]["latents"]) == 5  # the top-5 of discovery


def test_evaluate_auto_applies_an_adopted_vector_and_keeps_the_contract(l24, tmp_path, monkeypatch, capsys) -> None:
    from dataclasses import replace

    from saif_ui.saif.steering import recipe as recipes
    from saif_ui.saif.steering.spec import SteeringSpec, SteerVector

    _hand_recipe(tmp_path, monkeypatch)
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


def test_steer_clamps_hand_picked_latents(l24, capsys) -> None:
    from saif_ui.cli.steer import _METHODS
    from saif_ui.saif.steering.spec import METHODS

    assert _METHODS == METHODS
    args = ["steer", "--sae", l24, "--instruction", "french", "--content", "Dogs like to run in the park."]
    picked = ["--latents", "5,9", "--scale", "unit", "--method", "clamp", "--alpha", "20"]
    assert main([*args, *picked, "--max-new-tokens", "6", "--json"]) == 0
    data = _json(capsys)
    assert data["spec"]["method"] == "clamp" and [e["latent"] for e in data["spec"]["latents"]] == [5, 9]
    assert data["steered"]["text"]
    assert main([*args, "--mean-diff", "--layer", "24", "--method", "clamp"]) == 2
    assert "raw vector cannot be clamped" in capsys.readouterr().err
