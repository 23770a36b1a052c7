"""Export and import of an exploration, CSV files and share links (`ui.export`): round trips, and every bad link
or file refused with its reason."""

from __future__ import annotations

import contextlib
import json
import typing
import urllib.parse
from dataclasses import asdict, fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saif_ui.service import ControlError, Decoding, Session
from saif_ui.ui.export import (
    CONTROL_TYPES,
    DECODING_KEYS,
    TOP_KEYS,
    exploration,
    parse_exploration,
    parse_query,
    share_query,
    to_json,
    write_csvs,
)
from tests.service.test_session import RESULT
from tests.ui.samples import COMPARISON


def test_share_query_round_trips_through_parse_query() -> None:
    q = share_query("french", "", 24, [436, 3798], 2.0, {436: 1.0, 3798: 0.5}, "pre")
    assert q == "instruction=french&layer=24&latents=436,3798&strengths=1,0.5&alpha=2&placement=pre"
    params = dict(p.split("=", 1) for p in q.split("&"))
    link = parse_query(params, ["french", "json"], {24: "L24"})
    assert (link.instruction, link.layer, link.sae, link.latents, link.alpha) == ("french", 24, "L24", [436, 3798], 2.0)
    assert link.strengths == {436: 1.0, 3798: 0.5} and link.placement == "pre" and not link.errors


def test_a_chat_travels_in_the_link_as_its_messages_and_source() -> None:
    q = share_query("french", "", None, [], None, chat=["Hi | there", "Bye."], chat_source="latents")
    params = dict(urllib.parse.parse_qsl(q))
    link = parse_query(params, ["french"], {})
    assert link.chat == ["Hi | there", "Bye."] and link.chat_source == "latents" and not link.errors and not link.empty
    assert "chat" not in share_query("french", "", None, [], None)  # no conversation, no parameter


def test_share_query_of_a_custom_instruction() -> None:
    q = share_query("custom", "Talk like a pirate.\nBe a pirate.", None, [], None)
    link = parse_query({"text": "Talk like a pirate.|Be a pirate."}, ["french"], {})
    assert q.startswith("text=Talk+like+a+pirate.|Be") and link.instruction == "custom"
    assert link.custom_text == "Talk like a pirate.\nBe a pirate."


def test_parse_query_refuses_bad_values_with_reasons() -> None:
    link = parse_query(
        {"instruction": "klingon", "layer": "99", "latents": "1,x", "alpha": "big"}, ["french"], {24: "L"}
    )
    assert len(link.errors) == 4 and link.instruction is None and link.layer is None
    assert "valid: french" in link.errors[0] and "layers with an SAE: 24" in link.errors[1]
    assert parse_query({}, ["french"], {}).empty


LINK_KEYS = ["instruction", "text", "sae", "layer", "latents", "strengths", "alpha", "placement", "chat", "steer_with"]


EXPLORATION_KEYS = sorted(TOP_KEYS - {"format", "version"})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"instruction": "klingon"}, "unknown instruction 'klingon'"),
        ({"sae": "nope"}, "no SAE named 'nope'"),
        ({"layer": "-1x"}, "no attached SAE reads layer"),
        ({"layer": "99"}, "no attached SAE reads layer '99'"),
        ({"latents": "5,5"}, "listed twice"),
        ({"latents": "-2"}, "'-2' is not one"),
        ({"latents": ",".join(map(str, range(500)))}, "at most 64 latents"),
        ({"latents": "5", "strengths": "abc"}, "strengths must be numbers"),
        ({"latents": "5", "strengths": "1e9"}, "within ±100"),
        ({"latents": "5", "strengths": "nan"}, "within ±100"),
        ({"alpha": "1e30"}, "within ±1000"),
        ({"alpha": "inf"}, "within ±1000"),
        ({"alpha": "two"}, "alpha must be a number"),
        ({"placement": "middle"}, "placement must be post or pre"),
        ({"chat": "not json"}, "chat must be a JSON list"),
        ({"chat": '["hi", 3]'}, "non-empty messages"),
        ({"chat": json.dumps(["hi"] * 13)}, "at most 12 turns, the link has 13"),
        ({"chat": '["hi"]', "steer_with": "vibes"}, "steer_with must be one of latents, recipe"),
    ],
)
def test_each_bad_link_parameter_has_its_reason(params, message) -> None:
    link = parse_query(params, ["french"], {24: "L24"}, ["L24"])
    assert any(message in e for e in link.errors), link.errors


@given(st.dictionaries(st.sampled_from(LINK_KEYS) | st.text(max_size=6), st.text(max_size=40), max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_query_string_parses_without_raising(params) -> None:
    """Property: a share link, however mangled, is parsed into values and reasons, never an exception."""
    link = parse_query(params, ["french"], {24: "L24"}, ["L24"])
    assert all(isinstance(e, str) and e for e in link.errors)
    assert link.alpha is None or abs(link.alpha) <= 1000


EXPLORATION_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(EXPLORATION_KEYS), EXPLORATION_VALUES, max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_exploration_json_is_read_or_refused_clearly(fields) -> None:
    """Property: an exploration file with any values in its fields is imported or refused with a ControlError."""
    text = json.dumps({"format": "saif_ui.exploration", "version": 1, **fields})
    with contextlib.suppress(ControlError):
        parse_exploration(text)


def test_exploration_round_trip(tmp_path) -> None:
    session = Session(discovery=RESULT, comparison=COMPARISON)
    controls = {"instruction": "french", "content": "Hi.", "sae": "L24", "latents": ["7", "3"], "alpha": 2.0,
                "strengths": {7: 0.5, 3: 1.0}, "max_new_tokens": 32}  # fmt: skip
    record = exploration(controls, session, "embedded:x", 24)
    assert record["latents"] == [7, 3] and record["strengths"] == {"7": 0.5, "3": 1.0} and record["spec"]["alpha"] == 2
    back = parse_exploration(to_json(record))
    assert back.controls["latents"] == [7, 3] and back.controls["strengths"] == {7: 0.5, 3: 1.0}
    assert back.controls["max_new_tokens"] == 32 and back.session.discovery == RESULT and back.model == "embedded:x"
    assert back.session.comparison == COMPARISON and back.session.comparison.outputs["steered"].text == "Bonjour"
    paths = write_csvs(back.session, tmp_path)
    assert sorted(p.name for p in paths) == ["comparison.csv", "flagged_latents.csv", "latents.csv"]


EXPLORATION = '{"format": "saif_ui.exploration", "version": 1, '


def test_unknown_exploration_fields_are_reported_not_fatal() -> None:
    back = parse_exploration(EXPLORATION + '"colour": "red", "alpha": 2}')
    assert back.warnings == ["ignored unknown fields: colour"] and back.controls["alpha"] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "the exploration is not valid JSON"),
        ("[]", "not a saif_ui exploration"),
        ('{"format": "saif_ui.exploration"}', "version"),
        ("[" * 1000 + "]" * 1000, "nests 33 levels deep"),
        (" " * (5 * 2**20), "the limit is 4 MB"),
        (EXPLORATION + '"steering": [1]}', "'steering' must be an object"),
        (EXPLORATION + '"decoding": "fast"}', "'decoding' must be an object"),
        (EXPLORATION + '"alpha": "big"}', "'alpha' must be a number"),
        (EXPLORATION + '"system_prompt": 1}', "'system_prompt' must be true or false"),
        (EXPLORATION + '"decoding": {"seed": 1.5}}', "'seed' must be a whole number"),
        (EXPLORATION + '"latents": "436"}', "'latents' must be a list"),
        (EXPLORATION + '"latents": [1, 1]}', "listed twice"),
        (EXPLORATION + '"latents": [-1]}', "'-1' is not one"),
        (EXPLORATION + f'"latents": {list(range(100_000))}}}', "100000 latents; at most 64"),
        (EXPLORATION + '"strengths": {"1": "x"}}', "'strengths' must map latent ids to numbers"),
        (EXPLORATION + '"outputs": [1]}', "'outputs' must be an object"),
        (EXPLORATION + '"outputs": {"discovery": {"x": 1}}}', "'outputs.discovery' is not a saif_ui discovery"),
        (EXPLORATION + '"outputs": {"extra": [1]}}', "'outputs.extra' must be an object"),
        (EXPLORATION + '"alpha": NaN}', "NaN"),
    ],
)
def test_parse_exploration_refuses_foreign_files(text: str, message: str) -> None:
    """Each malformed exploration is refused with the field that is wrong (never a TypeError or RecursionError)."""
    with pytest.raises(ValueError, match=message):
        parse_exploration(text)


def test_exploration_json_is_plain_json() -> None:
    record = exploration({"alpha": float("inf")}, Session(), "m", None)
    assert json.loads(to_json(record))["alpha"] is None


def test_the_decoding_block_is_decodings_fields_each_typed_as_its_field() -> None:
    """A knob added to `Decoding` is recorded, read back and type-checked with no edit to the export."""
    hints = typing.get_type_hints(Decoding)
    record = exploration(asdict(Decoding(seed=3, do_sample=True)), Session(), "embedded:x", None)
    assert list(record["decoding"]) == [f.name for f in fields(Decoding)] == list(DECODING_KEYS)
    back = parse_exploration(to_json(record)).controls
    assert {k: back[k] for k in DECODING_KEYS} == asdict(Decoding(seed=3, do_sample=True))
    for name, kind in hints.items():
        wrong = "x" if kind is not str else 1
        with pytest.raises(ControlError, match=f"'{name}' must be {CONTROL_TYPES[name][1]}"):
            parse_exploration(EXPLORATION + json.dumps({"decoding": {name: wrong}})[1:])
    assert {CONTROL_TYPES[n][1] for n in ("max_new_tokens", "do_sample", "temperature")} == {
        "a whole number", "true or false", "a number"}  # fmt: skip
