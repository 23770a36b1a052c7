"""The steering study on the real model, shrunk: every method on the same test contents, judged the same way."""

from __future__ import annotations

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.steering.recipe import Recipe
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent
from saif_ui.saif.studies.steering_study import METHODS, reporting_contents, run_instruction


@pytest.fixture(scope="module")
def study(engine, tmp_path_factory):
    from tests.conftest import random_sae

    root = tmp_path_factory.mktemp("study")
    old, engine.config.cache_dir = engine.config.cache_dir, root / "cache"
    random_sae(engine.d_model, 64, "blocks.5.hook_resid_post", seed=7).save_model(str(root / "r5"))
    name = engine.add_sae(str(root / "r5")).name
    spec = SteeringSpec(latents=tuple(SteerLatent(name, 5, i, mean_act=3.0) for i in (1, 2)), alpha=2.0)
    recipe = Recipe("french", "saif_topk", spec, k=2, fidelity_threshold=15.0,
                    validation={"controls": {"mean_difference": {"alpha": 1.0}}})  # fmt: skip
    contents = reporting_contents()[:4]
    try:
        yield run_instruction(engine, recipe, lambda _: None, contents=contents, decoding=Decoding(max_new_tokens=6))
    finally:
        engine.remove_sae(name)
        engine.config.cache_dir = old


def test_study_reports_on_test_contents_only() -> None:
    test = {c.id for c in load_contents("test")}
    assert {c.id for c in reporting_contents()} == test and len(test) >= 96


def test_every_method_on_the_same_contents_with_texts_and_intervals(study) -> None:
    assert set(study["methods"]) == set(METHODS) and study["n"] == 4
    for name, block in study["methods"].items():
        assert [o["id"] for o in block["outputs"]] == study["contents"], name
        assert all(isinstance(o["text"], str) and "prompted" in o["chrf"] for o in block["outputs"])
        assert block["n"] == 4 and 0 <= block["ci"]["success"][0] <= block["success"] <= block["ci"]["success"][1]
        assert block["success"] == sum(o["success"] for o in block["outputs"]) / 4
        assert set(block["paired"]) == {"original", "prompted", "steered"} - {name}


def test_controls_match_the_recipe_norm(study) -> None:
    m = study["methods"]
    for name in ("random_latents", "random_direction", "top1_matched"):
        assert m[name]["norm"] == pytest.approx(m["steered"]["norm"], rel=1e-3), name
    # The prompted answers are the reference: each is faithful to itself, so success is its fluent-strict rate.
    assert all(o["chrf"]["prompted"] == pytest.approx(100.0) for o in m["prompted"]["outputs"])
    assert m["prompted"]["success"] == m["prompted"]["fluent_strict"]
    assert study["recipe"]["latents"][:2] == [1, 2] and study["headline"] == "success"
