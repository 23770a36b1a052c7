"""The backend's chat part: a visitor's conversation, answered turn after turn by the default, steered and prompted
columns (`saif.steering.chat`), steered by what the Steering tab holds: its chosen latents (as the steer button
would apply them) or the instruction's validated recipe (its adopted method, a distilled vector included).

A turn goes through the result cache keyed by the conversation so far, the message, the spec and the decoding, so
a demo that replays a conversation gets it back at once. A turn that was stopped is returned, never cached.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.watch import Watch
from saif_ui.saif.discovery.discover import DiscoveryResult
from saif_ui.saif.steering.chat import COLUMNS, Conversation, Turn, reply, start
from saif_ui.saif.steering.spec import SteeringSpec
from saif_ui.service.context import Context, as_placement
from saif_ui.service.controls import PromptChoice, SteerControls
from saif_ui.service.steering import Steering
from saif_ui.service.streaming import Partial, cached, finals, whole

Source = Literal["latents", "recipe"]
SOURCES: tuple[Source, ...] = get_args(Source)


@dataclass(frozen=True)
class ChatReply:
    """The conversation with its new turn, and whether the turn came from the result cache."""

    conversation: Conversation
    cached: bool
    stopped: bool = False

    @property
    def turn(self) -> Turn:
        return self.conversation.turns[-1]


class Chat:
    def __init__(self, context: Context, steering: Steering) -> None:
        self.context = context
        self.steering = steering

    def spec(
        self,
        source: str,
        choice: PromptChoice,
        sae: str | None,
        controls: SteerControls,
        discovery: DiscoveryResult | None,
    ) -> SteeringSpec:
        """The steering of every steered turn: the tab's `latents` (their strengths, α and method, as the steer
        button builds them) or the instruction's validated `recipe` (what `steer_recipe` applies)."""
        if source not in SOURCES:
            raise SaifError(f"steer the chat with one of {', '.join(SOURCES)}, not {source!r}")
        if source == "recipe":
            view = self.steering.recipe_view(choice.instruction)
            if view.recipe is None:
                raise SaifError(f"instruction {choice.instruction!r} has no validated recipe: steer with latents")
            if not view.attached:
                raise SaifError("the recipe's SAE is not attached: add it in the SAEs tab")
            return view.recipe.steering
        if not sae or not self.context.has_sae(sae):
            raise SaifError("pick an attached SAE to steer the chat with its latents")
        return self.steering.spec(discovery, sae, controls)

    def start(self, choice: PromptChoice) -> Conversation:
        """An empty conversation whose prompted column is told the chosen instruction where the Instructions tab
        puts it."""
        return start(self.context.instruction(choice), placement=as_placement(choice.placement))

    def reply_stream(
        self,
        choice: PromptChoice,
        conversation: Conversation | None,
        message: str,
        spec: SteeringSpec,
        decoding: Decoding,
        stop: threading.Event | None = None,
    ) -> Iterator[Partial | ChatReply]:
        """`message` answered by the three columns, appended to `conversation` (a new one when None), as it is
        written: each column's answer so far (`Partial`, under `CHAT_COLUMNS`' names), then the reply; `stop` ends
        the turn at the next token (the stopped turn is returned, never cached). A conversation started for another
        instruction or placement is refused here; a bad message when the stream is read, before the model runs."""
        instr = self.context.instruction(choice)
        convo = conversation if conversation is not None else self.start(choice)
        if convo.instruction != instr.id or convo.placement != choice.placement:
            raise SaifError(
                f"this conversation tells {convo.instruction!r} ({convo.placement}); the controls now say "
                f"{instr.id!r} ({choice.placement}): press Reset to start a new one"
            )
        saes = sorted({e.sae for e in spec.latents})
        settings = self.context.settings(choice, instr, decoding)
        del settings["content"]  # the Instructions tab's passage plays no part in a chat
        settings |= {
            "conversation": convo.to_dict(),
            "message": message,
            "spec": spec.to_dict(),
            "saes": [self.context.sae_key(n) for n in saes],
        }

        def run(watch: Watch | None) -> dict[str, Any]:
            return reply(
                self.context.engine,
                instr,
                convo,
                message,
                spec,
                decoding=decoding,
                system_prompt=choice.system_prompt,
                watch=watch,
            ).to_dict()

        updates = cached(self.context.results, "chat", settings, run, COLUMNS, stop)
        return finals(updates, lambda done: ChatReply(convo.with_turn(Turn.from_dict(done.value)), done.cached,
                                                      done.stopped))  # fmt: skip

    reply = whole(reply_stream)

    def replay(
        self, choice: PromptChoice, spec: SteeringSpec, messages: list[str], decoding: Decoding
    ) -> ChatReply | None:
        """A new conversation of `messages` (a shared link's), each answered in turn (the result cache answers
        the turns it has seen); None for no messages."""
        last: ChatReply | None = None
        for message in messages:
            last = self.reply(choice, last.conversation if last else None, message, spec, decoding)
        return last
