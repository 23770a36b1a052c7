"""Tests for saif_ui.saif.steering.chat: each column's history as the model saw it, steering on every turn, limits."""

from __future__ import annotations

import pytest
import torch

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import PromptTooLong, SaifError
from saif_ui.saif.steering import chat
from saif_ui.saif.steering.spec import SteeringSpec, SteerVector

SHORT = Decoding(max_new_tokens=8)
WORDING = "Translate the text into French."


@pytest.fixture(scope="module")
def push(engine) -> SteeringSpec:
    """A raw vector strong enough to change every answer at layer 10 (a seeded random direction, norm 60)."""
    torch.manual_seed(0)
    v = torch.randn(engine.d_model)
    v = v / v.norm() * 60
    return SteeringSpec(vectors=(SteerVector(layer=10, vector=tuple(v.tolist())),), alpha=1.0)


def test_two_turns_keep_each_columns_own_history(engine, push) -> None:
    convo = chat.start("french")
    first = chat.reply(engine, "french", convo, "Bees make honey.", push, decoding=SHORT)
    convo = convo.with_turn(first)
    assert first.answers["steered"].text != first.answers["default"].text  # the vector acts on the first turn
    second = chat.reply(engine, "french", convo, "Cats purr.", push, decoding=SHORT)
    default, steered, prompted = chat.prompts(engine, convo, "Cats purr.")
    # Each column reads its own earlier answer, and only the prompted one is told, on every user turn.
    for column, rendered in (("default", default), ("steered", steered), ("prompted", prompted)):
        messages = convo.messages(column, "Cats purr.")
        assert [m["role"] for m in messages] == ["user", "assistant", "user"]
        assert messages[1]["content"] == first.answers[column].text
        assert rendered == engine.render(messages)
    assert prompted.count(WORDING) == 2 and WORDING not in default + steered
    assert "Bees make honey.\n\n" + WORDING in prompted and "Cats purr.\n\n" + WORDING in prompted
    # Every answer is the engine's own greedy answer to that column's prompt, the steered one under the spec's hooks:
    # the same request alone is served from the entry the batched turn wrote (steered on the second turn too).
    for column, text, steering in (
        ("default", default, None),
        ("steered", steered, push.steerings(engine)),
        ("prompted", prompted, None),
    ):
        [alone] = engine.generate([text], steering, decoding=SHORT)
        assert alone.cached and second.answers[column].text == alone.text


def test_an_empty_spec_steers_nothing_and_answers_are_judged(engine) -> None:
    turn = chat.reply(engine, "french", chat.start("french"), "The sea is salty.", SteeringSpec(), decoding=SHORT)
    assert turn.answers["steered"].text == turn.answers["default"].text
    assert all(a.strict is not None for a in turn.answers.values())  # french has a checker: every column judged
    assert [a.id for a in turn.answers.values()] == list(chat.COLUMNS)


def test_pre_placement_puts_the_instruction_first(engine) -> None:
    convo = chat.start("french", placement="pre")
    _, _, prompted = chat.prompts(engine, convo, "Rain falls.")
    assert WORDING + "\n\nRain falls." in prompted


def test_a_conversation_past_the_prompt_limit_is_refused_with_its_length(engine) -> None:
    limit = engine.config.max_prompt_tokens
    long = " ".join(["word"] * (limit + 10))
    with pytest.raises(PromptTooLong, match=r"the prompt is [\d,]+ tokens"):
        chat.reply(engine, "french", chat.start("french"), long, SteeringSpec(), decoding=SHORT)


def test_bad_messages_and_wrong_instructions_are_refused(engine) -> None:
    convo = chat.start("french")
    with pytest.raises(SaifError, match="the message is empty"):
        chat.reply(engine, "french", convo, "   ", SteeringSpec(), decoding=SHORT)
    with pytest.raises(SaifError, match="started for 'french'"):
        chat.reply(engine, "spanish", convo, "Hello.", SteeringSpec(), decoding=SHORT)
    full = chat.Conversation("french", WORDING, "post", ())
    turn = chat.reply(engine, "french", full, "Hello.", SteeringSpec(), decoding=SHORT)
    for _ in range(chat.MAX_TURNS):
        full = full.with_turn(turn) if len(full.turns) < chat.MAX_TURNS else full
    with pytest.raises(SaifError, match=f"at most {chat.MAX_TURNS} turns"):
        chat.reply(engine, "french", full, "Hello.", SteeringSpec(), decoding=SHORT)
    with pytest.raises(SaifError, match="at most"):
        full.with_turn(turn)


def test_a_conversation_round_trips_and_malformed_records_say_why(engine, push) -> None:
    users = ["Bees make honey.", "Cats purr."]
    convo = chat.replay(engine, "french", chat.start("french"), push, users, decoding=SHORT)
    assert [t.user for t in convo.turns] == ["Bees make honey.", "Cats purr."]
    again = chat.Conversation.from_dict(convo.to_dict())
    assert again == convo
    with pytest.raises(SaifError, match="version"):
        chat.Conversation.from_dict({**convo.to_dict(), "version": 99})
    with pytest.raises(SaifError, match="lacks the steered answer"):
        record = convo.to_dict()
        del record["turns"][0]["steered"]
        chat.Conversation.from_dict(record)
    with pytest.raises(SaifError, match="placement"):
        chat.Conversation.from_dict({**convo.to_dict(), "placement": "middle"})
