"""What the panels say: the compliance note when the model does not follow the prompt, and the recipe's card with
its method, test intervals and SAIF's spec beside an adopted one."""

from __future__ import annotations

from saif_ui.saif.steering.compare import Output
from saif_ui.saif.steering.evaluate import Summary
from tests.ui.samples import output


def test_compliance_note_warns_when_the_prompt_is_not_followed() -> None:
    from saif_ui.saif.inputs.catalogue import Instruction
    from saif_ui.ui.texts import compliance_md, verdict_md

    told = Instruction.custom(["Answer in French."], checker="french")
    assert "not measured" in compliance_md(told)
    low = compliance_md(told, Summary(0.25, 0.25, 0.25, None, 0.0, 8))
    assert "**25%** (95% CI 7–59%) of 8 validation contents" in low and "does not follow this instruction even" in low
    assert "⚠" not in compliance_md(told, Summary(0.75, 0.75, 0.75, None, 0.0, 8))
    line = verdict_md(Output.from_dict({**output("x"), "loose": False}), "french")
    assert line == "**french**: strict **pass** ✓ · loose **fail** ✗ · perplexity 9.0 · repeated (loops) 10%"


def test_recipe_panel_states_the_recipe_and_its_test_intervals() -> None:
    from saif_ui.saif.steering.recipe import Recipe
    from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent
    from saif_ui.saif.studies.steering_study import TestFigures
    from saif_ui.service import RecipeView
    from saif_ui.ui.texts import recipe_md

    assert "No validated recipe for `json`" in recipe_md(RecipeView("json", None, None, False))
    spec = SteeringSpec(latents=(SteerLatent("L24_fast_topk64", 24, 5, mean_act=2.0),), alpha=3.0)
    recipe = Recipe("french", "saif_topk", spec, k=1, fidelity_threshold=29.6, validation={"n": 96, "successes": 40})
    assert "not attached" in recipe_md(RecipeView("french", recipe, None, False))
    figures = TestFigures(
        n=96,
        rates={"original": (0.0, 0.0, 0.0385), "steered": (0.5, 0.4, 0.6), "prompted": (0.8, 0.71, 0.87)},
        paired_p={"original": 1e-9, "prompted": 0.001},
        key_digest="abc",
        current=False,
    )
    text = recipe_md(RecipeView("french", recipe, figures, True))
    assert "latents 5, α = 3" in text and "chrF ≥ 29.6" in text and "40/96" in text
    assert "| steered with the recipe (not told) | 50% | 40–60% | – |" in text
    assert "| prompted (told) | 80% | 71–87% | 0.001 |" in text and "need a rerun" in text


def test_recipe_panel_leads_with_an_adopted_method_and_keeps_saifs_beside_it() -> None:
    from saif_ui.saif.steering.recipe import Adopted, Recipe
    from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent, SteerVector
    from saif_ui.saif.studies.steering_study import TestFigures
    from saif_ui.service import RecipeView
    from saif_ui.ui.texts import recipe_md

    spec = SteeringSpec(latents=(SteerLatent("L24_fast_topk64", 24, 5, mean_act=2.0),), alpha=3.0)
    vector = SteeringSpec(vectors=(SteerVector(15, (1.0, 2.0)),), alpha=1.5)
    figures = {"saif_topk": {"successes": 2, "n": 24}, "distil_free": {"successes": 11, "n": 24}}
    adopted = Adopted("distil_free", vector, validation={"n": 24, "methods": figures})
    recipe = Recipe("french", "saif_topk", spec, 1, 29.6, {"n": 96, "successes": 4}, adopted=adopted)
    rates = {"steered": (0.05, 0.02, 0.1), "distil_free": (0.45, 0.35, 0.55)}
    test = TestFigures(n=96, rates=rates, paired_p={"distil_free": 1e-6}, key_digest="k", current=True)
    text = recipe_md(RecipeView("french", recipe, test, True))
    assert "steers with `distil_free`**" in text and "a free vector, layer 15, α = 1.5" in text
    assert "`saif_topk` 2/24, `distil_free` 11/24" in text
    assert "SAIF's top-k, shown beside it: L24_fast_topk64 (layer 24), latents 5, α = 3" in text
    assert "| distilled: free vector (trained on the prompt) | 45% | 35–55% | 1e-06 |" in text
    assert "| SAIF's top-k (not told) | 5% | 2–10% | – |" in text
