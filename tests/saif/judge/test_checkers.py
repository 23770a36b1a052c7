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
    get_checker,
    loose_variants,
)
from saif_ui.saif.judge.fluency import char_repetition_rate, degeneration, distinct_n, repetition_rate
from saif_ui.saif.judge.predicates import detect_language, is_json_start, keyword_items, strip_code_fence

FRENCH = "Le chat dort sur le canapé pendant que la pluie tombe sur la ville."
SPANISH = "El gato duerme en el sofá mientras la lluvia cae sobre la ciudad."
GERMAN = "Die Katze schläft auf dem Sofa, während der Regen auf die Stadt fällt."
ITALIAN = "Il gatto dorme sul divano mentre la pioggia cade sulla città."
PORTUGUESE = "O gato dorme no sofá enquanto a chuva cai sobre a cidade."
CHINESE = "猫在沙发上睡觉，外面的雨一直在下。"
ENGLISH = "The cat sleeps on the sofa while the rain falls on the city."
DUTCH = "De kat slaapt op de bank terwijl de regen op de stad valt."
RUSSIAN = "Кошка спит на диване, пока над городом идёт дождь, и никто её не будит."
JAPANESE = "猫はソファで寝ています。外では雨が降っています。"

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
    # ---- languages added for the screen
    ("dutch", DUTCH, PASS),
    ("dutch", GERMAN, FAIL),
    ("dutch", "Here is the text translated into Dutch for you today:\nDe kat slaapt op de bank.", LOOSE_ONLY),
    ("russian", RUSSIAN, PASS),
    ("russian", ENGLISH, FAIL),
    ("japanese", JAPANESE, PASS),
    ("japanese", CHINESE, FAIL),
    # ---- format
    ("numbered_list", "1. The cat sleeps.\n2. The rain falls.", PASS),
    ("numbered_list", "Points:\n1) The cat sleeps.\n2) The rain falls.\n3) The city is wet.", PASS),
    ("numbered_list", "Sure! Here is the list:\n1. The cat sleeps.\n2. The rain falls.", PASS),  # a heading is fine
    ("numbered_list", "**1.** The cat sleeps.\n**2.** The rain falls.", LOOSE_ONLY),
    ("numbered_list", "1. Only one point.", FAIL),
    ("numbered_list", "2. The cat sleeps.\n3. The rain falls.", FAIL),  # not counted from 1
    ("numbered_list", "1. The cat sleeps.\n3. The rain falls.", FAIL),  # a gap
    ("numbered_list", "- The cat sleeps.\n- The rain falls.", FAIL),
    ("quoted", '"The cat sleeps on the sofa."', PASS),
    ("quoted", "  “The cat sleeps on the sofa.”\n", PASS),
    ("quoted", 'Here it is:\n"The cat sleeps on the sofa."', LOOSE_ONLY),
    ("quoted", 'The cat said "hello" to me.', FAIL),
    ("quoted", '"', FAIL),
    ("quoted", '“The cat sleeps."', FAIL),  # mismatched pair
    ("title_brackets", "<<The Sleeping Cat>>\nThe cat sleeps on the sofa.", PASS),
    ("title_brackets", "The cat sleeps. <<A title at the end>>", PASS),
    ("title_brackets", "<<>>\nThe cat sleeps.", FAIL),
    ("title_brackets", "<<title>>: The cat sleeps.", FAIL),  # the instruction's placeholder, copied
    ("title_brackets", "<<Title: The Sleeping Cat>>\nThe cat sleeps.", PASS),
    ("title_brackets", "<The Sleeping Cat>\nThe cat sleeps.", FAIL),
    ("title_brackets", "<<broken\ntitle>> The cat sleeps.", FAIL),
    ("title_line", "The Sleeping Cat\nThe cat sleeps on the sofa while it rains.", PASS),
    ("title_line", "# The Sleeping Cat\n\nThe cat sleeps on the sofa.", PASS),
    ("title_line", "**Title: The Sleeping Cat**\nThe cat sleeps on the sofa.", PASS),
    ("title_line", "The cat sleeps on the sofa.\nIt rains outside.", FAIL),  # a sentence, not a title
    ("title_line", "The Sleeping Cat", FAIL),  # nothing follows
    ("title_line", "The Sleeping Cat\n\n", FAIL),
    ("title_line", "A very long first line that keeps going well past any title length limit\nMore.", FAIL),
    ("markdown_table", "| animal | place |\n|---|---|\n| cat | sofa |", PASS),
    ("markdown_table", "Table:\n| animal | place |\n| :--- | ---: |\n| cat | sofa |\n| dog | park |", PASS),
    ("markdown_table", "| animal | place |\n| cat | sofa |", FAIL),  # no rule line
    ("markdown_table", "|---|---|\n| cat | sofa |", FAIL),  # one row only
    ("markdown_table", "animal, place\ncat, sofa", FAIL),
    # ---- length
    ("one_word", "Library.", PASS),
    ("one_word", "  Bibliothèque!  ", PASS),
    ("one_word", "Answer:\nLibrary", LOOSE_ONLY),
    ("one_word", "The library.", FAIL),
    ("one_word", "well-known", FAIL),  # IFEval counts two words
    ("one_word", "...", FAIL),
    ("max_words_5", "The library opens at nine.", PASS),
    ("max_words_5", "The library opens at nine o'clock.", FAIL),  # o'clock is two \\w+ words: 7 in all
    ("max_words_5", "Here is a short answer:\nThe library opens.", LOOSE_ONLY),
    ("max_words_5", "!!!", FAIL),
    ("max_words_10", "The library opens at nine and closes at six.", PASS),
    ("max_words_10", "The library opens at nine in the morning and closes at six.", FAIL),
    ("max_words_20", "The library opens at nine in the morning and closes at six in the evening.", PASS),
    ("max_words_20", " ".join(["word"] * 21), FAIL),
    # ---- lexical
    ("starts_with_yes", "Yes, the library opens at nine.", PASS),
    ("starts_with_yes", "  yes. It opens at nine.", PASS),
    ("starts_with_yes", "**Yes**, it opens at nine.", LOOSE_ONLY),
    ("starts_with_yes", "Yesterday the library opened.", FAIL),
    ("starts_with_yes", "The answer is yes.", FAIL),
    ("ends_with_done", "The library opens at nine. Done.", PASS),
    ("ends_with_done", "The library opens at nine. DONE!", PASS),
    ("ends_with_done", "Done: the library opens at nine.", FAIL),
    ("ends_with_done", "The library opens at nine. Undone", FAIL),
    ("ends_with_done", "The work is done.\nI hope this helps you with your work today.", LOOSE_ONLY),
    ("ends_with_phrase", "The library opens at nine. Is there anything else I can help with?", PASS),
    ("ends_with_phrase", "It opens at nine. is there anything else i can help with?  ", PASS),
    ("ends_with_phrase", "Is there anything else I can help with? The library opens at nine.", FAIL),
    ("ends_with_phrase", "It opens at nine. Is there anything else I can help with", FAIL),
    ("includes_banana", "The library sells a banana at the door.", PASS),
    ("includes_banana", "BANANAS are yellow.", PASS),
    ("includes_banana", "The library opens at nine.", FAIL),
    ("includes_banana", "A bananarama song.", FAIL),  # a whole word only
    ("excludes_the", "A library opens at nine.", PASS),
    ("excludes_the", "There is a library here.", PASS),  # "There" is not "the"
    ("excludes_the", "The library opens at nine.", FAIL),
    ("excludes_the", "A library opens at nine; THE doors close at six.", FAIL),
    ("excludes_the", "The answer:\nA library opens at nine.", LOOSE_ONLY),
    ("excludes_the", "...", FAIL),  # no words at all
    ("no_commas", "The library opens at nine and closes at six.", PASS),
    ("no_commas", "The library opens at nine, and closes at six.", FAIL),
    ("no_commas", "Sure, here it is:\nThe library opens at nine.", LOOSE_ONLY),
    ("no_commas", "...", FAIL),
    ("postscript", "The library opens at nine.\nP.S. Bring your card.", PASS),
    ("postscript", "The library opens at nine.\n\np.s. bring your card.", PASS),
    ("postscript", "The library opens at nine. PS bring your card.", FAIL),
    ("postscript", "The library opens at nine.", FAIL),
    # ---- style
    ("question", "When does the library open?", PASS),
    ("question", "图书馆什么时候开门？", PASS),
    ("question", "When does the library open?\nI hope this question helps.", LOOSE_ONLY),
    ("question", "The library opens at nine.", FAIL),
    ("question", "?", FAIL),
    ("exclamation", "The library opens at nine!", PASS),
    ("exclamation", "The library opens at nine!\nHope that helps.", LOOSE_ONLY),
    ("exclamation", "The library opens at nine.", FAIL),
    ("exclamation", "!!!", FAIL),
    ("formal", "The library opens at nine in the morning.", PASS),
    ("formal", "The library's doors open at nine.", PASS),  # a possessive, not a contraction
    ("formal", "The library doesn't open before nine.", FAIL),
    ("formal", "It’s open at nine.", FAIL),  # curly apostrophe
    ("formal", "We'll be open at nine.", FAIL),
    ("formal", "The library opens at nine!", FAIL),
    ("formal", "Open.", FAIL),  # too short to have a register
    ("formal", "Sure thing, it's done!\nThe library opens at nine in the morning.", LOOSE_ONLY),
    ("title_case", "The Library Opens At Nine.", PASS),
    ("title_case", "The Library Opens At 9 O'Clock.", PASS),
    ("title_case", "The Library opens at nine.", FAIL),
    ("title_case", "The Library", FAIL),  # fewer than three words
    ("title_case", "Here it is:\nThe Library Opens At Nine.", LOOSE_ONLY),
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
