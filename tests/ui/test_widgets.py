"""Typed controls of event handlers: the decoding controls reach a handler as one checked `Decoding`, while gradio
and its API still see each control by its own name."""

from __future__ import annotations

import inspect

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.ui.widgets import handler, parse_decoding


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
