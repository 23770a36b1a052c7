"""The selection study on the real model, shrunk: output-effect latents tuned on validation stage contents and
compared on the steering study's test contents with SAIF's recipe and the mean-difference vector."""

from __future__ import annotations

import pytest

from saif_ui.saif.studies import derived, selection_study
from tests.saif.studies.conftest import SEARCH, SHORT, shrunk_steering_study


@pytest.fixture(scope="module")
def study(engine, tmp_path_factory):
    with shrunk_steering_study(engine, tmp_path_factory.mktemp("selection")) as s:
        run = selection_study.run_instruction
        yield s.shipped, run(derived.Item(engine, s.recipe, s.doc, SHORT), lambda _: None, search=SEARCH)


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
