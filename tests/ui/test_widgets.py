"""Typed controls of event handlers: the decoding controls reach a handler as one checked `Decoding`, while gradio
and its API still see each control by its own name."""

from __future__ import annotations

import inspect

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.saif.steering.compare import Output
from saif_ui.saif.steering.evaluate import Summary
from saif_ui.ui.widgets import handler, parse_decoding
from tests.ui.samples import output


def test_a_handler_taking_a_decoding_exposes_its_fields_and_gets_one_object() -> None:
    @handler
    def steer(text: str, decoding: Decoding) -> Decoding:
        return decoding

    params = inspect.signature(steer).parameters
    assert list(params) == [
        "text", "max_new_tokens", "do_sample", "temperature", "top_p", "seed", "repetition_penalty",
        "no_repeat_ngram_size",
    ]  # fmt: skip
    assert params["max_new_tokens"].annotation is float and params["do_sample"].annotation is bool
    assert steer("x", 48.0, True, 0.7, 0.9, None, 1.2, 3.0) == Decoding(48, True, 0.7, 0.9, 0, 1.2, 3)


def test_decoding_controls_are_checked_by_the_library() -> None:
    assert parse_decoding(max_new_tokens=8.0, do_sample=False, temperature=1.0, top_p=1.0, seed=3.0).seed == 3
    with pytest.raises(ValueError, match=r"max_new_tokens must be in 1\.\.1024"):
        parse_decoding(max_new_tokens=0, do_sample=False, temperature=1.0, top_p=1.0, seed=0)


def test_compliance_note_warns_when_the_prompt_is_not_followed() -> None:
    from saif_ui.saif.inputs.catalogue import Instruction
    from saif_ui.ui.widgets import compliance_md, verdict_md

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
    from saif_ui.ui.widgets import recipe_md

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
    from saif_ui.ui.widgets import recipe_md

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


def test_a_streaming_handler_stays_a_generator_and_its_errors_reach_the_user_however_far_it_got() -> None:
    import gradio as gr

    from saif_ui.engine.errors import SaifError
    from saif_ui.ui.widgets import user_errors

    @handler
    def stream(text: str, decoding: Decoding):  # no return annotation: the test's point is the function's kind
        yield f"{text} {decoding.max_new_tokens}"
        raise SaifError("the recipe steers with SAE 'L24', which is not attached")

    assert inspect.isgeneratorfunction(stream) and inspect.isgeneratorfunction(stream.__wrapped__)
    assert list(inspect.signature(stream).parameters)[:2] == ["text", "max_new_tokens"]
    updates = stream("x", 8.0, False, 1.0, 1.0, 0, 1.0, 0)
    assert next(updates) == "x 8"
    with pytest.raises(gr.Error, match="which is not attached"):
        next(updates)
    with pytest.raises(gr.Error, match=r"max_new_tokens must be in 1\.\.1024"):  # bad controls, at the first step
        next(stream("x", 0, False, 1.0, 1.0, 0, 1.0, 0))

    @user_errors
    def plain() -> str:
        raise SaifError("bad input")

    assert not inspect.isgeneratorfunction(plain)
    with pytest.raises(gr.Error, match="bad input"):
        plain()


def test_answer_columns_give_each_mode_a_box_over_its_verdict_with_the_ids_the_pages_use() -> None:
    import gradio as gr

    from saif_ui.ui.widgets import answer_columns

    with gr.Blocks():
        answers = answer_columns({"original": "Original", "steered": "Steered"}, "x-out-{}", "x-verdict-{}", lines=3)
    assert list(answers) == ["original", "steered"]
    box, verdict = answers["steered"]
    assert (box.label, box.lines, box.elem_id, verdict.elem_id) == ("Steered", 3, "x-out-steered", "x-verdict-steered")
    assert box.interactive is None  # left to gradio: an output only is read-only
