"""The backend itself: one object per server, made of parts that share one `Context` (SAEs, instructions, discovery,
steering, training, distillation), plus what belongs to no part: the engine's facts, the playground's plain generate
and a visitor leaving."""

from __future__ import annotations

from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.inputs.catalogue import Catalogue
from saif_ui.saif.inputs.prompts import check_text
from saif_ui.service.context import Context
from saif_ui.service.discovery import Discovery
from saif_ui.service.distil import Distillation
from saif_ui.service.instructions import Instructions
from saif_ui.service.saes import Saes
from saif_ui.service.steering import Steering
from saif_ui.service.training import Training


class Backend:
    """The dashboard's door to the library: `backend.saes`, `.instructions`, `.discovery`, `.steering`,
    `.training` and `.distil` hold the actions; `.jobs`, `.streams`, `.shelf` and `.trainings` are the visitors' shared
    state."""

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
        self.training = Training(self.context)
        self.distil = Distillation(self.context, self.saes.latent_labels, self.steering)

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

    def generate(self, text: str, max_new_tokens: int, system_prompt: bool) -> tuple[str, str]:
        """The rendered prompt and the model's greedy answer to a plain user message (the playground)."""
        if not text or not text.strip():
            raise SaifError("Write a prompt first.")
        full = self.engine.render(check_text(text, "the prompt"), system_prompt=system_prompt)
        gen = self.engine.generate([full], decoding=Decoding(max_new_tokens=max_new_tokens))[0]
        return full, gen.text
