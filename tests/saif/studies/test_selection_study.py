"""The selection study on the real model, shrunk: output-effect latents tuned on validation stage contents and
compared on the steering study's test contents with SAIF's recipe and the mean-difference vector."""

from __future__ import annotations

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.saif.steering.recipe import Recipe
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent
from saif_ui.saif.studies import selection_study, steering_study
from saif_ui.saif.studies.recipe_search import SearchConfig

SHORT = Decoding(max_new_tokens=6)
SEARCH = SearchConfig(alphas=(1.0, 4.0), n_stage=2, n_discovery=4, max_new_tokens=6)


@pytest.fixture(scope="module")
def study(engine, tmp_path_factory):
    from tests.conftest import random_sae

    root = tmp_path_factory.mktemp("selection")
    old, engine.config.cache_dir = engine.config.cache_dir, root / "cache"
    random_sae(engine.d_model, 64, "blocks.5.hook_resid_post", seed=7).save_model(str(root / "r5"))
    name = engine.add_sae(str(root / "r5")).name
    spec = SteeringSpec(latents=tuple(SteerLatent(name, 5, i, mean_act=3.0) for i in (1, 2)), alpha=2.0)
    recipe = Recipe("french", "saif_topk", spec, k=2, fidelity_threshold=15.0,
                    validation={"controls": {"mean_difference": {"alpha": 1.0}}})  # fmt: skip
    contents = steering_study.reporting_contents()[:4]
    try:
        shipped = steering_study.run_instruction(engine, recipe, lambda _: None, contents=contents, decoding=SHORT)
        doc = {"key_digest": "x", "result": shipped}
        result = selection_study.run_instruction(engine, recipe, doc, lambda _: None, decoding=SHORT, search=SEARCH)
        yield shipped, result
    finally:
        engine.remove_sae(name)
        engine.config.cache_dir = old


def test_output_effect_latents_are_tuned_on_validation_and_judged_on_test(study) -> None:
    shipped, result = study
    o = result["output_effect"]
    assert 1 <= len(o["latents"]) <= 2 and o["alpha"] in (1.0, 4.0)
    assert [c["alpha"] for c in o["validation"]] == [1.0, 4.0] and all(c["n"] == 2 for c in o["validation"])
    assert [r["id"] for r in o["outputs"]] == shipped["contents"] and o["success"]["n"] == 4
    assert o["latents"] == [t["latent"] for t in o["top"]][: len(o["latents"])]
    assert 0.0 <= o["jaccard_with_recipe"] <= 1.0


def test_compared_with_the_recipe_and_mean_difference_on_the_same_contents(study) -> None:
    shipped, result = study
    for other in ("steered", "mean_difference"):
        assert result["compared"][other]["success"]["rate"] == shipped["methods"][other]["success"]
        assert result["output_effect"]["paired"][other]["fluent_strict"]["n"] == 4
