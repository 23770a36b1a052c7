"""A conversation steered turn after turn: each turn's default, steered and prompted answers, each column keeping its
own history as the model saw it.

Where the instruction goes in a conversation: the prompted column appends it to **every** user turn, at the chosen
placement (after the message by default), exactly as the studies and the screen told the model (`user_message`).
Told once in the first turn, a 135M model mostly forgets it a turn later, so the column would measure memory rather
than the instruction; told in a system turn, it is a placement the screen never validated. The steered column never
sees the instruction: the steering applies to every turn (over whatever positions the spec says, the history
included, as the model reads it), and its history holds its own steered answers.

The three columns of a turn are one batched generate (`Engine.generate_each`), so a watch sees them advance together.
A conversation the engine cannot read whole is refused with its length (`PromptTooLong`), never cut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from saif_ui.engine import Engine
from saif_ui.engine.chat import Message
from saif_ui.engine.decoding import GREEDY, Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.watch import Watch
from saif_ui.saif.discovery.discover import resolve_instruction
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.inputs.prompts import Placement, check_text, user_message
from saif_ui.saif.steering.compare import Output, judge
from saif_ui.saif.steering.spec import SteeringSpec

Column = Literal["default", "steered", "prompted"]
COLUMNS: tuple[Column, ...] = get_args(Column)
MAX_TURNS = 12
"""Turns one conversation may hold: each turn re-reads the whole history, so the cost grows with its square; the
engine's prompt limit refuses a long one anyway, this refuses a merely many-turned one with a clearer message."""
CHAT_VERSION = 1
"""Bumped when what a turn's answers depend on changes (result keys, shared links)."""


@dataclass(frozen=True)
class Turn:
    """One user message and each column's judged answer to it."""

    user: str
    answers: dict[Column, Output]

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, **{c: self.answers[c].to_dict() for c in COLUMNS if c in self.answers}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Turn:
        if not isinstance(data, Mapping) or not isinstance(data.get("user"), str):
            raise SaifError("a chat turn is an object with a `user` message and the columns' answers")
        missing = [c for c in COLUMNS if not isinstance(data.get(c), Mapping)]
        if missing:
            raise SaifError(f"a chat turn lacks the {missing[0]} answer")
        return cls(user=data["user"], answers={c: Output.from_dict(data[c]) for c in COLUMNS})


@dataclass(frozen=True)
class Conversation:
    """The turns so far, with the instruction the prompted column is told and where."""

    instruction: str
    """The catalogue id (or a custom instruction's id); the wording told is `wording`."""
    wording: str
    placement: Placement = "post"
    turns: tuple[Turn, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.placement not in ("post", "pre"):
            raise SaifError(f"placement must be post or pre, not {self.placement!r}")
        if len(self.turns) > MAX_TURNS:
            raise SaifError(f"a conversation holds at most {MAX_TURNS} turns; this one has {len(self.turns)}: reset it")

    def messages(self, column: Column, user: str) -> list[Message]:
        """What `column` sends the model for a new `user` message: its own history, then the message (with the
        instruction in the prompted column)."""
        out: list[Message] = []
        for turn in self.turns:
            out += [
                {"role": "user", "content": self._said(column, turn.user)},
                {"role": "assistant", "content": turn.answers[column].text},
            ]
        return [*out, {"role": "user", "content": self._said(column, user)}]

    def _said(self, column: Column, user: str) -> str:
        if column != "prompted":
            return user
        return user_message(user, self.wording, self.placement)[0]

    def with_turn(self, turn: Turn) -> Conversation:
        return Conversation(self.instruction, self.wording, self.placement, (*self.turns, turn))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": CHAT_VERSION,
            "instruction": self.instruction,
            "wording": self.wording,
            "placement": self.placement,
            "turns": [t.to_dict() for t in self.turns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Conversation:
        """A conversation from `to_dict()` (a share link, an export); a malformed one is a SaifError naming why."""
        if not isinstance(data, Mapping):
            raise SaifError("a conversation is a JSON object")
        if data.get("version") != CHAT_VERSION:
            raise SaifError(f"a conversation of version {data.get('version')!r}; this app reads {CHAT_VERSION}")
        turns = data.get("turns")
        if not isinstance(turns, list):
            raise SaifError("a conversation's `turns` is a list")
        try:
            return cls(
                instruction=str(data["instruction"]),
                wording=str(data["wording"]),
                placement=data.get("placement", "post"),
                turns=tuple(Turn.from_dict(t) for t in turns),
            )
        except KeyError as err:
            raise SaifError(f"a conversation lacks {err}") from None


def start(instruction: Instruction | str, *, placement: Placement = "post", wording: str | None = None) -> Conversation:
    """An empty conversation whose prompted column is told `instruction` (its canonical wording unless given)."""
    instr = resolve_instruction(instruction)
    return Conversation(instr.id, wording or instr.canonical, placement)


def prompts(engine: Engine, conversation: Conversation, user: str, *, system_prompt: bool | None = None) -> list[str]:
    """The three columns' rendered prompts for the next message, in `COLUMNS` order."""
    return [engine.render(conversation.messages(c, user), system_prompt=system_prompt) for c in COLUMNS]


def reply(
    engine: Engine,
    instruction: Instruction | str,
    conversation: Conversation,
    user: str,
    spec: SteeringSpec,
    *,
    decoding: Decoding = GREEDY,
    system_prompt: bool | None = None,
    watch: Watch | None = None,
) -> Turn:
    """The next turn: `user` answered by each column in one batched generate, the steered column steered by `spec`,
    every answer judged by `instruction`'s checker (the conversation's own instruction: a catalogue id or the custom
    `Instruction` it was started with).

    Raises `SaifError` for an empty or malformed message or a conversation at `MAX_TURNS`, and the engine's
    `PromptTooLong` (with the length) when a column's history no longer fits; nothing runs then.
    """
    user = check_text(user, "the message")
    if len(conversation.turns) >= MAX_TURNS:
        raise SaifError(f"a conversation holds at most {MAX_TURNS} turns: reset it to go on")
    instr = resolve_instruction(instruction)
    if instr.id != conversation.instruction:
        raise SaifError(f"this conversation was started for {conversation.instruction!r}, not {instr.id!r}: reset it")
    rendered = prompts(engine, conversation, user, system_prompt=system_prompt)
    steerings = [spec.steerings(engine) if c == "steered" else [] for c in COLUMNS]
    gens = engine.generate_each(rendered, steerings, decoding=decoding, watch=watch)
    outputs = judge(engine, instr, [g.text for g in gens], [g.finished for g in gens], list(COLUMNS))
    return Turn(user=user, answers=dict(zip(COLUMNS, outputs, strict=True)))


def replay(
    engine: Engine,
    instruction: Instruction | str,
    conversation: Conversation,
    spec: SteeringSpec,
    users: Sequence[str],
    *,
    decoding: Decoding = GREEDY,
    system_prompt: bool | None = None,
) -> Conversation:
    """`conversation` continued by each of `users` in turn (a shared link's messages, answered again)."""
    for user in users:
        conversation = conversation.with_turn(
            reply(engine, instruction, conversation, user, spec, decoding=decoding, system_prompt=system_prompt)
        )
    return conversation
