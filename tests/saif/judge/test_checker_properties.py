"""Property tests of the checkers: any text gets a verdict (never an exception), strict implies loose, and the same
text always gets the same verdict (langdetect is seeded)."""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from saif_ui.saif.judge.checkers import CHECKERS, Verdict, check  # noqa: E402
from saif_ui.saif.judge.predicates import count_words  # noqa: E402

# Text that exercises the checkers' parsers: markdown and JSON punctuation, list markers, brackets, quotes, several
# scripts and line breaks, besides arbitrary unicode.
PIECES = st.sampled_from(
    [
        "\n", " ", "*", "**", "-", "1.", "2)", "#", "|", "|---|", "<<", ">>", '"', "“", "”", "{", "}", "[", "]",
        ":", ",", ".", "!", "?", "？", "P.S.", "```", "```json\n", "yes", "Done", "banana", "the", "it's", "Le chat",
        "El gato", "猫", "Кошка", "Is there anything else I can help with?",
    ]
)  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=40).map("".join),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
def test_every_checker_judges_any_text_without_raising(text: str) -> None:
    for checker_id in CHECKERS:
        verdict = check(checker_id, text)
        assert isinstance(verdict, Verdict)
        assert isinstance(verdict.strict, bool) and isinstance(verdict.loose, bool)
        assert verdict.loose or not verdict.strict, checker_id
        assert check(checker_id, text) == verdict, checker_id  # deterministic


@settings(max_examples=200, deadline=None)
@given(text=TEXT)
def test_blank_text_never_passes(text: str) -> None:
    blank = "".join(ch for ch in text if ch.isspace())
    for checker_id in CHECKERS:
        assert check(checker_id, blank) == Verdict(False, False), checker_id


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True), min_size=1, max_size=30))
def test_word_limits_follow_the_word_count(words: list[str]) -> None:
    text = " ".join(words)
    assert count_words(text) == len(words)
    for limit in (5, 10, 20):
        assert check(f"max_words_{limit}", text).strict == (len(words) <= limit)
    assert check("one_word", text).strict == (len(words) == 1)
