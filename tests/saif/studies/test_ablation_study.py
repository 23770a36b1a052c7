"""The ablation study on the real model, shrunk: every drop-one and add-one point on the steering study's contents,
the full recipe's verdicts read back from it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.saif.steering.spec import SteeringSpec
from saif_ui.saif.studies import ablation_study, derived
from tests.saif.studies.conftest import SHORT, shrunk_steering_study


@pytest.fixture(scope="module")
def study(engine, tmp_path_factory):
    with shrunk_steering_study(engine, tmp_path_factory.mktemp("ablation"), latents=(1, 2, 3)) as s:
        result = ablation_study.run_instruction(derived.Item(engine, s.recipe, s.doc, SHORT), lambda _: None)
        yield s.shipped, result, s.recipe, s.doc


def test_every_point_of_both_curves(study) -> None:
    _, result, _, _ = study
    labels = [p["label"] for p in result["points"]]
    assert labels == ["all", "without 1", "without 2", "without 3", "first 1", "first 2"]
    assert [p["latents"] for p in result["points"]][1:4] == [[2, 3], [1, 3], [1, 2]]


def test_full_point_is_the_steering_studys_and_others_are_generated(study) -> None:
    shipped, result, _, _ = study
    full, *rest = result["points"]
    assert full["success"]["rate"] == shipped["methods"]["steered"]["success"]
    assert full["paired_vs_full"]["success"]["p"] == 1.0 and "outputs" not in full
    for p in rest:
        assert [o["id"] for o in p["outputs"]] == shipped["contents"]
        assert p["success"]["rate"] == sum(o["success"] for o in p["outputs"]) / 4
        assert p["fluent_strict"]["ci"][0] <= p["fluent_strict"]["rate"] <= p["fluent_strict"]["ci"][1]
    # Dropping a latent shrinks the vector: the curves are not norm-matched, and the norms say so.
    assert all(p["norm"] < full["norm"] for p in rest)


def test_the_first_latent_alone_is_the_top1_without_rescaling(study, engine) -> None:
    _, result, recipe, _ = study
    first = next(p for p in result["points"] if p["label"] == "first 1")
    one = SteeringSpec(latents=recipe.spec.latents[:1], alpha=recipe.spec.alpha)
    assert first["norm"] == pytest.approx(one.norm(engine), rel=1e-3)


def test_one_latent_recipes_have_no_curve(study, engine) -> None:
    _, _, recipe, doc = study
    single = replace(recipe, spec=replace(recipe.spec, latents=recipe.spec.latents[:1]), k=1)
    with pytest.raises(SaifError, match="one latent"):
        ablation_study.run_instruction(derived.Item(engine, single, doc))
