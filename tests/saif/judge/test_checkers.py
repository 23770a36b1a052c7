"""Tests for saif_ui.saif.judge.checkers: strict/loose verdicts per checker, IFEval's variants, fluency signals."""

from __future__ import annotations

import pytest

from saif_ui.saif.judge.checkers import (
    CHECKERS,
    UnknownCheckerError,
    Verdict,
    check,
    checker_ids,
    compliance_rates,
    detect_language,
    get_checker,
    is_json_start,
    keyword_items,
    loose_variants,
    strip_code_fence,
)
from saif_ui.saif.judge.fluency import char_repetition_rate, degeneration, distinct_n, repetition_rate

FRENCH = "Le chat dort sur le canapé pendant que la pluie tombe sur la ville."
SPANISH = "El gato duerme en el sofá mientras la lluvia cae sobre la ciudad."
GERMAN = "Die Katze schläft auf dem Sofa, während der Regen auf die Stadt fällt."
ITALIAN = "Il gatto dorme sul divano mentre la pioggia cade sulla città."
PORTUGUESE = "O gato dorme no sofá enquanto a chuva cai sobre a cidade."
CHINESE = "猫在沙发上睡觉，外面的雨一直在下。"
ENGLISH = "The cat sleeps on the sofa while the rain falls on the city."

PASS, FAIL = Verdict(True, True), Verdict(False, False)
LOOSE_ONLY = Verdict(strict=False, loose=True)

# (checker, response, expected verdict): hand-written positives, negatives, and strict/loose splits for every checker.
CASES = [
    ("french", FRENCH, PASS),
    ("french", ENGLISH, FAIL),
    ("french", SPANISH, FAIL),
    # An English preface outweighs a short translation for langdetect; loose drops the first line (IFEval's reason).
    ("french", "Here is the translation of the text into French:\nLe chat dort.", LOOSE_ONLY),
    # A closing English remark after the translation: dropping the last line rescues it.
    ("french", "Le chat dort.\nI hope this translation of the text into French helps you today.", LOOSE_ONLY),
    ("french", "**Bonjour le monde**", PASS),
    ("french", "", FAIL),
    ("french", "12345 !!!", FAIL),
    ("spanish", SPANISH, PASS),
    ("spanish", FRENCH, FAIL),
    ("spanish", "Sure, this is the text translated into Spanish for you:\nEl gato duerme.", LOOSE_ONLY),
    ("german", GERMAN, PASS),
    ("german", ENGLISH, FAIL),
    ("italian", ITALIAN, PASS),
    ("italian", FRENCH, FAIL),
    ("portuguese", PORTUGUESE, PASS),
    ("portuguese", ENGLISH, FAIL),
    ("chinese", CHINESE, PASS),
    ("chinese", ENGLISH, FAIL),
    ("json", '{"translation": "Le chat dort."}', PASS),
    ("json", "  [1, 2, 3]\n", PASS),
    ("json", '```json\n{"answer": "yes"}\n```', LOOSE_ONLY),
    ("json", 'Here is the JSON:\n```json\n{"answer": "yes"}\n```', LOOSE_ONLY),
    ("json", 'Here is the JSON:\n{"answer": "yes"}', LOOSE_ONLY),
    ("json", '"just a string"', FAIL),
    ("json", "42", FAIL),
    ("json", '{"answer": "yes"', FAIL),
    ("json", "The answer is yes.", FAIL),
    ("json_start", '{"answer": "yes"', PASS),
    ("json_start", 'Here is the JSON:\n{"answer": "yes"}', LOOSE_ONLY),
    ("json_start", "The answer is yes.", FAIL),
    ("uppercase", "THE CAT SLEEPS ON THE SOFA, 2 TIMES A DAY.", PASS),
    ("uppercase", "Sure! Here is the text:\nTHE CAT SLEEPS ON THE SOFA.", LOOSE_ONLY),
    ("uppercase", "The cat sleeps on the sofa.", FAIL),
    ("uppercase", "OK", FAIL),  # fewer than MIN_CASED_LETTERS
    ("uppercase", "123 456", FAIL),
    ("lowercase", "the cat sleeps on the sofa.", PASS),
    ("lowercase", "Here it is:\nthe cat sleeps on the sofa.", LOOSE_ONLY),
    ("lowercase", "The cat sleeps on the sofa.", FAIL),
    ("bullet_list", "- The cat sleeps.\n- The rain falls.", PASS),
    ("bullet_list", "Main points:\n* The cat sleeps.\n• The rain falls.\n1. The city is wet.", PASS),
    ("bullet_list", "1) First point\n2) Second point", PASS),
    ("bullet_list", "- Only one point here.", FAIL),
    ("bullet_list", "**The cat** sleeps.\n**The rain** falls.", FAIL),
    ("bullet_list", "The cat sleeps. The rain falls.", FAIL),
    ("keywords", "bread, bakery, morning", PASS),
    ("keywords", "Keywords: bread, bakery and morning.", PASS),
    ("keywords", "Keywords:\n- bread\n- bakery\n- early morning", PASS),
    ("keywords", "**Keywords:** bread, bakery, morning", LOOSE_ONLY),
    ("keywords", "Here are three keywords:\n1. bread\n2. bakery\n3. morning", LOOSE_ONLY),
    ("keywords", "bread, bakery", FAIL),
    ("keywords", "bread, bakery, morning, oven", FAIL),
    ("keywords", "bread, bread, bread", FAIL),
    ("keywords", "The bakery starts work at four, the bakers shape loaves by hand, and bread is ready by seven.", FAIL),
    ("one_sentence", "The village bakery bakes bread by hand before dawn.", PASS),
    ("one_sentence", "Summary:\nThe village bakery bakes bread by hand before dawn.", LOOSE_ONLY),
    ("one_sentence", "The bakery bakes bread. It opens at seven.", FAIL),
    ("one_sentence", "Bread.", FAIL),
]


@pytest.mark.parametrize(("checker_id", "response", "expected"), CASES)
def test_verdicts(checker_id: str, response: str, expected: Verdict) -> None:
    assert check(checker_id, response) == expected


def test_every_checker_has_a_positive_and_a_negative_case() -> None:
    for checker_id in CHECKERS:
        outcomes = {expected.strict for cid, _, expected in CASES if cid == checker_id}
        assert outcomes == {True, False}, checker_id


def test_strict_implies_loose() -> None:
    for checker_id, response, _ in CASES:
        verdict = check(checker_id, response)
        assert verdict.loose or not verdict.strict


def test_loose_variants_are_ifevals_eight() -> None:
    response = "**Intro**\nbody *one*\nbody two\nOutro"
    assert loose_variants(response) == (
        response,
        "Intro\nbody one\nbody two\nOutro",
        "body *one*\nbody two\nOutro",
        "**Intro**\nbody *one*\nbody two",
        "body *one*\nbody two",
        "body one\nbody two\nOutro",
        "Intro\nbody one\nbody two",
        "body one\nbody two",
    )


def test_loose_variants_of_single_line_leave_empty_cuts() -> None:
    # Dropping the only line leaves "", which check() never credits (IFEval skips empty variants).
    assert loose_variants("*hi*")[2:5] == ("", "", "")


def test_registry_callables_apply_the_strict_test() -> None:
    assert CHECKERS["json"]('{"a": 1}') is True
    assert CHECKERS["json"]('```json\n{"a": 1}\n```') is False
    assert get_checker("uppercase")("ABC DEF") is True


def test_unknown_checker_lists_valid_ids() -> None:
    with pytest.raises(UnknownCheckerError) as info:
        check("klingon", "Qapla'")
    assert isinstance(info.value, KeyError)
    assert "klingon" in str(info.value)
    assert "french" in str(info.value) and "json" in str(info.value)
    assert checker_ids() == tuple(sorted(CHECKERS))


def test_langdetect_is_deterministic() -> None:
    # Short, ambiguous texts are where an unseeded langdetect flips between calls.
    for text in ("Bonjour", "El gato duerme.", "Il sole sorge a est.", "Here is the translation:\nLe chat dort."):
        first = detect_language(text)
        assert all(detect_language(text) == first for _ in range(15)), text
        verdicts = {check("french", text) for _ in range(10)}
        assert len(verdicts) == 1, text


def test_detect_language_returns_none_without_letters() -> None:
    assert detect_language("") is None
    assert detect_language("12345 ...") is None
    assert detect_language(FRENCH) == "fr"


def test_strip_code_fence() -> None:
    assert strip_code_fence('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert strip_code_fence("```\n[1]\n```") == "[1]"
    assert strip_code_fence('{"a": 1}') == '{"a": 1}'
    assert strip_code_fence("text ```json\n{}\n```") == "text ```json\n{}\n```"  # only a fence wrapping everything


def test_keyword_items_parsing() -> None:
    assert keyword_items("a, b, and c") == ["a", "b", "c"]
    assert keyword_items("salt and pepper") == ["salt and pepper"]
    assert keyword_items('1. "bread"\n2. bakery.\n3. morning') == ["bread", "bakery", "morning"]


def test_repetition_rate() -> None:
    assert repetition_rate("The cat sleeps on the warm sofa by the window.") == 0.0
    loop = " ".join(["the cat sat"] * 30)
    assert repetition_rate(loop) > 0.95
    assert repetition_rate("the the the the the the the the") == pytest.approx(5 / 6)
    assert repetition_rate("too short") == 0.0
    assert repetition_rate("a b a b", n=1) == 0.5


def test_distinct_n() -> None:
    assert distinct_n("the cat the cat", n=2) == pytest.approx(2 / 3)
    assert distinct_n("one two three four", n=1) == 1.0
    assert distinct_n("", n=2) == 0.0
    with pytest.raises(ValueError, match="n must be"):
        distinct_n("text", n=0)


def test_compliance_rates() -> None:
    assert compliance_rates([Verdict(True, True), Verdict(False, True), Verdict(False, False), PASS]) == (0.5, 0.75)
    assert compliance_rates([]) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("response", "ok"),
    [
        ('{"a": 1}', True),
        ('{\n  "type": "json",\n  "data": {\n    "type": "js', True),
        ('```json\n{"items": [1, 2,', True),
        ('[{"a": "x"}, {"b":', True),
        ('{"a"', True),
        ('{"a": tru', True),
        ('{"a": 1}}', False),
        ("Here is the JSON: {", False),
        ('"just a string"', False),
        ("", False),
    ],
)
def test_json_start_accepts_valid_json_prefixes_only(response: str, ok: bool) -> None:
    assert is_json_start(response) is ok
    assert check("json_start", response).strict is ok


def test_json_start_handles_a_key_cut_inside_its_quotes() -> None:
    assert is_json_start('{"a": 1, "ty')
    assert is_json_start('```json\n{\n  "type": "json",\n  "data": {\n    "name"')
    assert is_json_start('[1, {"x": ')


def test_degeneration_catches_loops_that_word_trigrams_miss() -> None:
    assert repetition_rate('{"2222222222222222222222222222222') == 0.0
    assert char_repetition_rate('{"2222222222222222222222222222222') > 0.8
    assert degeneration("pour pour pour pour pour pour pour") > 0.8
    assert degeneration("The robot vacuum cleans the floor while the family is at work.") == 0.0
    assert char_repetition_rate("short") == 0.0
