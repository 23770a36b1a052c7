"""The backend itself: one object per server, made of parts that share one `Context` (SAEs, instructions, discovery,
steering, training, distillation), plus what belongs to no part: the engine's facts, the playground's plain generate
and a visitor leaving."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.watch import Watch
from saif_ui.saif.inputs.catalogue import Catalogue
from saif_ui.saif.inputs.prompts import check_text
from saif_ui.service.chat import Chat
from saif_ui.service.context import Context
from saif_ui.service.demos import Demos
from saif_ui.service.discovery import Discovery
from saif_ui.service.distil import Distillation
from saif_ui.service.instructions import Instructions
from saif_ui.service.saes import Saes
from saif_ui.service.steering import Steering
from saif_ui.service.streaming import Done, Partial, watched, whole
from saif_ui.service.sweeps import Sweeps
from saif_ui.service.training import Training


class Backend:
    """The dashboard's door to the library: `backend.saes`, `.instructions`, `.discovery`, `.steering`, `.sweeps`,
    `.training`, `.distil`, `.chat` and `.demos` hold the actions; `.jobs`, `.streams`, `.shelf` and `.trainings`
    are the visitors' shared state."""

    def __init__(self, engine: Engine, catalogue: Catalogue | None = None) -> None:
        self.context = Context(engine, catalogue)
        self.engine = engine
        self.jobs = self.context.jobs
        self.streams = self.context.streams
        self.shelf = self.context.shelf
        self.trainings = self.context.trainings
        self.saes = Saes(self.context)
        self.instructions = Instructions(self.context)
        self.discovery = Discovery(self.context, self.saes.latent_labels)
        self.steering = Steering(self.context)
        self.sweeps = Sweeps(self.context, self.steering)
        self.training = Training(self.context)
        self.distil = Distillation(self.context, self.saes.latent_labels, self.steering)
        self.chat = Chat(self.context, self.steering)
        self.demos = Demos(self.context, self.discovery, self.steering)

    @property
    def model_id(self) -> str:
        return self.context.model_id

    def engine_info(self) -> dict[str, Any]:
        return self.engine.info()

    @property
    def default_system_prompt(self) -> bool:
        return bool(self.engine.chat.default_system_prompt)

    def end_session(self, session: str) -> list[str]:
        """A visitor left: stop their job, streamed answers, training and distillation, and detach the SAEs only they
        held. Returns what was detached."""
        self.jobs.cancel(session)
        self.streams.stop(session)
        self.trainings.stop(session)
        self.distil.stop(session)
        return self.shelf.release(session)

    def generate_stream(
        self, text: str, decoding: Decoding, system_prompt: bool, stop: threading.Event | None = None
    ) -> Iterator[Partial | tuple[str, str]]:
        """The rendered prompt and the model's answer to a plain user message (the playground), as it is written: the
        answer so far (`Partial`, under `answer`), then the rendered prompt and the answer; `stop` ends it at the
        next token (the engine never caches a stopped answer)."""
        full = self._rendered(text, system_prompt)  # bad input raises here, before any thread
        return self._answer_stream(full, decoding, stop)

    generate = whole(generate_stream)

    def _answer_stream(
        self, full: str, decoding: Decoding, stop: threading.Event | None
    ) -> Iterator[Partial | tuple[str, str]]:
        def answer(watch: Watch) -> tuple[str, str]:
            return full, self.engine.generate_each([full], [[]], decoding=decoding, watch=watch)[0].text

        with contextlib.closing(watched(answer, stop)) as updates:
            for update in updates:
                yield update.value if isinstance(update, Done) else Partial({"answer": update[0]})

    def _rendered(self, text: str, system_prompt: bool) -> str:
        if not text or not text.strip():
            raise SaifError("Write a prompt first.")
        return self.engine.render(check_text(text, "the prompt"), system_prompt=system_prompt)
