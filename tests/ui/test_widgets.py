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
    assert list(params) == ["text", "max_new_tokens", "do_sample", "temperature", "top_p", "seed"]
    assert params["max_new_tokens"].annotation is float and params["do_sample"].annotation is bool
    assert steer("x", 48.0, True, 0.7, 0.9, None) == Decoding(48, True, 0.7, 0.9, 0)


def test_decoding_controls_are_checked_by_the_library() -> None:
    assert parse_decoding(max_new_tokens=8.0, do_sample=False, temperature=1.0, top_p=1.0, seed=3.0).seed == 3
    with pytest.raises(ValueError, match=r"max_new_tokens must be in 1\.\.1024"):
        parse_decoding(max_new_tokens=0, do_sample=False, temperature=1.0, top_p=1.0, seed=0)
