"""Validated recipes: saved beside the catalogue, read back exactly, and a missing one is a clear error."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from saif_ui.saif.steering.recipe import (
    Adopted,
    Recipe,
    RecipeError,
    load_recipes,
    recipe_for,
    require_recipe,
    save_recipe,
)
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent, SteerVector


def _recipe(instruction: str = "french", alpha: float = 2.0) -> Recipe:
    spec = SteeringSpec(
        latents=(SteerLatent("L24", 24, 7, mean_act=3.5), SteerLatent("L24", 24, 11, mean_act=1.25)),
        alpha=alpha,
        positions="generated",
        decay=0.1,
    )
    return Recipe(
        instruction=instruction,
        method="saif_topk",
        spec=spec,
        k=2,
        fidelity_threshold=31.5,
        validation={"n": 96, "successes": 40, "candidates": [{"layer": 24}]},
        provenance={"git_commit": "abc"},
    )


def test_save_and_load_round_trip_keeps_other_instructions(tmp_path: Path) -> None:
    path = tmp_path / "recipes.json"
    save_recipe(_recipe("french"), path)
    save_recipe(_recipe("spanish", alpha=1.0), path)
    save_recipe(_recipe("french", alpha=4.0), path)  # replaces french only
    recipes = load_recipes(path)
    assert sorted(recipes) == ["french", "spanish"]
    assert recipes["french"].spec.alpha == 4.0 and recipes["spanish"].spec.alpha == 1.0
    assert recipes["french"] == _recipe("french", alpha=4.0)
    assert not list(tmp_path.glob(".recipes-*"))  # the temporary file was moved into place


def test_summary_names_the_settings_a_tool_reads() -> None:
    s = _recipe().summary()
    assert (s["layer"], s["latents"], s["alpha"], s["positions"], s["decay"]) == (24, [7, 11], 2.0, "generated", 0.1)
    assert s["sae"] == "L24" and s["fidelity_threshold"] == 31.5
    assert "candidates" not in s["validation"]


def _adopted() -> Adopted:
    spec = SteeringSpec(vectors=(SteerVector(15, (0.5, -1.0, 2.0)),), alpha=1.5)
    return Adopted(
        method="distil_free",
        spec=spec,
        validation={"n": 24, "methods": {"saif_topk": {"successes": 1}, "distil_free": {"successes": 9}}},
        provenance={"key_digest": "d1"},
    )


def test_an_adopted_method_is_applied_and_saifs_spec_stays_beside_it(tmp_path: Path) -> None:
    plain = _recipe()
    adopted = replace(plain, adopted=_adopted())
    assert plain.steering == plain.spec and plain.steering_method == "saif_topk"
    assert adopted.steering == _adopted().spec and adopted.steering_method == "distil_free"
    assert adopted.spec == plain.spec and adopted.latents == [7, 11] and adopted.layer == 24
    # the studies key the SAIF part only: adopting leaves their keys as they were
    assert adopted.to_dict(adopted=False) == plain.to_dict() and "adopted" not in plain.to_dict()
    s = adopted.summary()
    assert (s["method"], s["layer"], s["latents"], s["vectors"], s["alpha"]) == ("distil_free", 15, [], 1, 1.5)
    assert s["saif"]["latents"] == [7, 11] and s["saif"]["alpha"] == 2.0 and s["saif"]["method"] == "saif_topk"
    assert s["adopted"]["validation"]["n"] == 24 and "spec" not in s["adopted"]
    path = tmp_path / "recipes.json"
    save_recipe(adopted, path)
    assert load_recipes(path)["french"] == adopted
    save_recipe(plain, path)  # a new search's recipe drops what was adopted from the old one
    assert load_recipes(path)["french"].adopted is None


def test_missing_recipe_says_which_instructions_have_one(tmp_path: Path) -> None:
    path = tmp_path / "recipes.json"
    assert load_recipes(path) == {} and recipe_for("french", path) is None
    save_recipe(_recipe("spanish"), path)
    with pytest.raises(RecipeError, match=r"'german' has no validated recipe.*spanish"):
        require_recipe("german", path)


def test_malformed_files_are_errors_not_crashes(tmp_path: Path) -> None:
    path = tmp_path / "recipes.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(RecipeError, match="not valid JSON"):
        load_recipes(path)
    path.write_text(json.dumps({"version": 99, "recipes": {}}), encoding="utf-8")
    with pytest.raises(RecipeError, match="version 1"):
        load_recipes(path)
    path.write_text(json.dumps({"version": 1, "recipes": {"french": {"method": "saif_topk"}}}), encoding="utf-8")
    with pytest.raises(RecipeError, match="malformed recipe"):
        load_recipes(path)


def test_shipped_recipes_were_chosen_on_todays_validation_data() -> None:
    """A recipe chosen on other validation contents, another catalogue or other checkers is stale: rerun
    `python -m saif_ui choose-recipe --instruction ID --write`."""
    from saif_ui.saif.inputs.catalogue import load_catalogue
    from saif_ui.saif.inputs.contents import contents_version
    from saif_ui.saif.judge.checkers import CHECKERS_VERSION

    recipes = load_recipes()
    assert recipes, "no recipe is shipped in assets/recipes.json"
    catalogue = load_catalogue()
    for iid, recipe in recipes.items():
        prov = recipe.provenance
        assert iid in catalogue.ids and recipe.instruction == iid
        assert prov["contents"] == {s: contents_version(s) for s in ("discovery", "validation")}, iid
        assert prov["catalogue"] == catalogue.version and prov["checkers"] == CHECKERS_VERSION, iid
        assert prov["git_commit"] and prov["command"].startswith("python -m saif_ui choose-recipe"), iid
        v = recipe.validation
        assert v["n"] >= 96 and 0 <= v["ci"][0] <= v["success"] <= v["ci"][1] <= 1, iid
