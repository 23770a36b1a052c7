"""Validated recipes: saved beside the catalogue, read back exactly, and a missing one is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from saif_ui.saif.steering.recipe import (
    Recipe,
    RecipeError,
    load_recipes,
    recipe_for,
    require_recipe,
    save_recipe,
)
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent


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
