"""The backend's steering part: decoding from the controls, a steer served again from the result cache, the recipe
panel computed once, and two instructions at once refused with a reason."""

from __future__ import annotations

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.resources import assets_dir
from saif_ui.saif.steering.recipe import load_recipes
from saif_ui.service import Backend
from saif_ui.service import steering as steering_part
from saif_ui.service.controls import PromptChoice, SteerControls


def test_a_repeated_steer_comes_from_the_result_cache(backend, rand_sae) -> None:
    choice = PromptChoice("french", content="The cat sat on the mat.")
    controls = SteerControls.parse(["3", "5"], [1.0, 0.5], 4.0, scale="unit")
    first = backend.steering.steer(choice, rand_sae, controls, None, Decoding(max_new_tokens=4))
    again = backend.steering.steer(choice, rand_sae, controls, None, Decoding(max_new_tokens=4))
    assert not first.cached and again.cached and again.comparison.to_dict() == first.comparison.to_dict()
    assert [(e.latent, e.strength) for e in first.spec.latents] == [(3, 1.0), (5, 0.5)] and first.spec.alpha == 4.0
    assert set(first.comparison.outputs) == {"original", "steered", "prompted"}


def test_two_instructions_at_once_need_two_catalogue_ones(backend) -> None:
    with pytest.raises(SaifError, match="pick two catalogue instructions"):
        backend.steering.joint_spec("french", "custom", (1.0, 1.0), None)
    with pytest.raises(SaifError, match="pick a second instruction other than 'french'"):
        backend.steering.joint_spec("french", "french", (1.0, 1.0), None)


def test_recipe_panel_is_computed_once_per_instruction_and_attached_saes(engine, monkeypatch) -> None:
    calls: list[str] = []

    def figures(engine, recipe):
        calls.append(recipe.instruction)

    monkeypatch.setattr(steering_part, "shipped_test_figures", figures)
    # a recipe whose applied steering needs its SAE (SAIF's latents or a distilled `sae` vector; a free one does not)
    iid = next(
        i
        for i, r in load_recipes().items()
        if r.steering.latents and r.steering.latents[0].sae == r.spec.latents[0].sae
    )
    b = Backend(engine).steering
    recipe = b.recipe_view(iid).recipe
    assert recipe is not None and calls == []  # its SAE is not attached: no figures looked up
    sae = recipe.spec.latents[0].sae
    engine.add_sae(str(assets_dir() / "saes" / sae))
    try:
        first = b.recipe_view(iid)
        assert first.attached and b.recipe_view(iid) is first and calls == [iid]
    finally:
        engine.remove_sae(sae)
    assert not b.recipe_view(iid).attached  # another set of SAEs: looked at again
