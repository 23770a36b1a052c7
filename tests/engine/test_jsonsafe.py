"""Reading visitor JSON with bounded size and nesting: every refusal is a SaifError naming what was read."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saif_ui.engine.errors import SaifError
from saif_ui.engine.jsonsafe import MAX_JSON_DEPTH, loads

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=4),
    max_leaves=20,
)


@given(JSON)
@settings(max_examples=200, deadline=None)
def test_any_shallow_json_round_trips(value) -> None:
    text = json.dumps(value)
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        assert loads(text) == json.loads(text)


@given(st.text(max_size=200) | st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_parses_or_fails_with_a_saif_error(text) -> None:
    try:
        loads(text)
    except SaifError as err:
        assert "the file" in str(err)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 10_000 + "]" * 10_000, "nests 33 levels deep"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nests 33 levels deep"),
        ('{"a": NaN}', "NaN"),
        ("[Infinity]", "Infinity"),
        ("{", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_refusals_say_why(text, message) -> None:
    with pytest.raises(SaifError, match=message):
        loads(text)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"s": "[" * 100 + '\\"{' * 50})
    assert loads(text) == json.loads(text)


def test_size_limit_is_checked_before_parsing() -> None:
    with pytest.raises(SaifError, match=r"the spec is 1\.0 MB; the limit is 0\.5 MB"):
        loads(" " * 2**20, "the spec", max_bytes=2**19)
