"""Decoding settings: checked on construction, and a key that carries a knob added later only when it is set (so
adding a knob leaves every shipped study's key as it was)."""

from __future__ import annotations

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError


def test_the_key_of_todays_settings_is_the_first_versions() -> None:
    assert Decoding(max_new_tokens=48).key() == {
        "max_new_tokens": 48, "do_sample": False, "temperature": 1.0, "top_p": 1.0, "seed": 0,
    }  # fmt: skip
    penalised = Decoding(max_new_tokens=48, repetition_penalty=1.3, no_repeat_ngram_size=3).key()
    assert penalised["repetition_penalty"] == 1.3 and penalised["no_repeat_ngram_size"] == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repetition_penalty": 0.9}, r"repetition_penalty must be in 1\.\.3 \(1 is off\)"),
        ({"repetition_penalty": 3.5}, r"repetition_penalty must be in 1\.\.3"),
        ({"no_repeat_ngram_size": -1}, r"no_repeat_ngram_size must be in 0\.\.16 \(0 is off\)"),
        ({"no_repeat_ngram_size": 17}, r"no_repeat_ngram_size must be in 0\.\.16"),
    ],
)
def test_bad_penalties_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(SaifError, match=message):
        Decoding(**kwargs)
