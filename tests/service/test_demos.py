"""The first screen's demos: only recipes whose shipped test figures clear the findings' bar are offered, none
without their SAEs, a test passage in file order (wrapping), the studies' headline verdict, and a demo answered on the
real model as the Steering tab answers it."""

from __future__ import annotations

import pytest

from saif_ui.engine.config import shipped_saes
from saif_ui.engine.errors import SaifError
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.studies.findings_sections import GAIN
from saif_ui.service import Backend, Partial, Steered, Verdict
from saif_ui.service.demos import Demos


@pytest.fixture(scope="module")
def shipped(engine, tmp_path_factory):
    """The session engine with the shipped SAEs attached and a private cache, for this module."""
    old, before = engine.config.cache_dir, set(engine.saes)
    engine.config.cache_dir = tmp_path_factory.mktemp("demo-cache")
    for folder in shipped_saes():
        engine.add_sae(folder)
    try:
        yield engine
    finally:
        for name in set(engine.saes) - before:
            engine.remove_sae(name)
        engine.config.cache_dir = old


def test_no_demo_without_the_recipes_saes(engine) -> None:
    assert Backend(engine).demos.available() == []
    with pytest.raises(SaifError, match="no demo for 'one_sentence': the demos are none on this model"):
        Backend(engine).demos.demo("one_sentence")


def test_only_recipes_that_clear_the_bar_on_test_are_offered_largest_gain_first(shipped) -> None:
    backend = Backend(shipped)
    demos = backend.demos.available()
    assert "one_sentence" in [d.instruction for d in demos]  # the recipe every study so far validated
    for demo in demos:
        assert demo.gain >= GAIN and demo.steered[1] > demo.original[0] and demo.n > 0
        view = backend.steering.recipe_view(demo.instruction)
        assert view.recipe is not None and view.test is not None
        applied = view.recipe.adopted.method if view.recipe.adopted else "steered"
        assert demo.method == applied and demo.steered == view.test.rates[applied]
        assert demo.applied_latents == tuple(e.latent for e in view.recipe.steering.latents)
    assert [d.gain for d in demos] == sorted((d.gain for d in demos), reverse=True)
    offered = {d.instruction for d in demos}
    for iid in backend.context.catalogue.ids:
        test = backend.steering.recipe_view(iid).test
        if iid not in offered and test is not None and "original" in test.rates:
            view = backend.steering.recipe_view(iid)
            method = view.recipe.adopted.method if view.recipe and view.recipe.adopted else "steered"
            steered, original = test.rates[method], test.rates["original"]
            assert steered[0] - original[0] < GAIN or steered[1] <= original[0], iid
    with pytest.raises(SaifError, match="no demo for 'uppercase': the demos are"):
        backend.demos.demo("uppercase")


def test_passages_are_test_passages_in_file_order_wrapping_around() -> None:
    tests = load_contents("test")
    first = Demos.passage(0)
    assert first.index == 0 and first.of == len(tests) and first.content == tests[0]
    wrapped = Demos.passage(len(tests) + 2)
    assert wrapped.content == tests[2] and wrapped.index == 2


def test_the_verdict_is_the_studies_headline_one() -> None:
    ok = Verdict(complies=True, repetition=0.1, repetition_limit=0.5, chrf=30.0, threshold=24.0)
    assert ok.success and not ok.loop and ok.faithful
    assert not Verdict(False, 0.1, 0.5, 30.0, 24.0).success
    assert Verdict(True, 0.6, 0.5, 30.0, 24.0).loop and not Verdict(True, 0.6, 0.5, 30.0, 24.0).success
    assert not Verdict(True, 0.1, 0.5, 23.9, 24.0).faithful and not Verdict(True, 0.1, 0.5, 23.9, 24.0).success


def test_a_demo_steers_its_test_passage_with_the_recipe_streamed_then_judged(shipped) -> None:
    backend = Backend(shipped)
    demo = backend.demos.demo("one_sentence")
    found = backend.demos.discover("one_sentence")
    assert found.sae == backend.steering.recipe_view("one_sentence").recipe.spec.latents[0].sae
    assert set(demo.saif_latents) <= set(found.ids[:10])  # the recipe's latents are discovery's top ones
    updates = list(backend.demos.steer_stream("one_sentence", 3))
    final = updates[-1]
    assert isinstance(final, Steered) and all(isinstance(u, Partial) for u in updates[:-1])
    assert final.comparison.content == load_contents("test")[3].text
    assert set(final.comparison.outputs) == {"original", "steered", "prompted"}
    assert final.spec == backend.steering.recipe_view("one_sentence").recipe.steering
    verdict = backend.demos.verdict(final)
    assert verdict.complies == bool(final.comparison.outputs["steered"].strict)
    assert 0.0 <= verdict.chrf <= 100.0
