"""The backend's instructions part: the catalogue and contents as the Instructions tab lists them, a custom
instruction, the exact prompt pair, and the model's answers without and with the instruction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.watch import Watch
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.inputs.prompts import build_prompt
from saif_ui.saif.judge.checkers import checker_ids
from saif_ui.saif.steering.compare import Comparison, compare
from saif_ui.saif.steering.spec import SteeringSpec
from saif_ui.service.context import CUSTOM, Context, as_placement
from saif_ui.service.controls import PromptChoice
from saif_ui.service.streaming import Partial, cached, finals, whole

ANSWER_ROWS = ("original", "steered", "prompted")
"""The rows `answers` generates: `compare`'s modes, the steered one unsteered (the original answer, generated once)
and dropped from the result."""


class Instructions:
    def __init__(self, context: Context) -> None:
        self.context = context

    def resolve(self, choice: PromptChoice) -> Instruction:
        """A catalogue instruction, or a custom one from `custom_text` (one wording per line, first canonical)."""
        return self.context.instruction(choice)

    def choices(self) -> list[tuple[str, str]]:
        items = [(f"{i.id} — {i.canonical}", i.id) for i in self.context.catalogue]
        return [*items, ("✎ write your own…", CUSTOM)]

    def catalogue_ids(self) -> tuple[str, ...]:
        return tuple(self.context.catalogue.ids)

    def checker_of(self, instruction: str | None) -> str | None:
        catalogue = self.context.catalogue
        return catalogue.get(str(instruction)).checker if instruction in catalogue else None

    @staticmethod
    def checker_choices() -> list[str]:
        return ["none", *checker_ids()]

    def content_choices(self) -> list[tuple[str, str]]:
        """Validation and test passages first: discovery never saw them, so they are the fair demo."""
        ordered = sorted(self.context.contents, key=lambda c: (c.split == "discovery", c.id))
        return [(f"{c.id} · {c.split} · {c.text[:70]}{'…' if len(c.text) > 70 else ''}", c.id) for c in ordered]

    def content_text(self, content_id: str) -> str:
        for c in self.context.contents:
            if c.id == content_id:
                return c.text
        raise SaifError(f"unknown content {content_id!r}")

    def prompts(self, choice: PromptChoice, wording: str | None = None) -> tuple[str, str]:
        """The exact rendered positive (content + instruction) and negative (content alone)."""
        instr = self.resolve(choice)
        said = wording or instr.canonical
        engine = self.context.engine
        chat, system = engine.chat, choice.system_prompt
        pos = build_prompt(chat, choice.content, said, as_placement(choice.placement), system_prompt=system)
        neg = build_prompt(chat, choice.content, None, "none", system_prompt=system)
        engine.prompt_ids(pos.text)  # the length limit, said here too: what is shown is what may be run
        return pos.text, neg.text

    def answers_stream(
        self, choice: PromptChoice, decoding: Decoding, stop: threading.Event | None = None
    ) -> Iterator[Partial | Comparison]:
        """The model's answer without and with the instruction, each judged by the instruction's checker (no steered
        mode: with an empty spec it is the original answer), as they are generated: both answers so far (`Partial`,
        under `original` and `prompted`), then the judged `Comparison`; `stop` ends them at the next token (the
        stopped comparison is returned, never cached)."""
        instr = self.resolve(choice)

        def run(watch: Watch | None) -> dict[str, Any]:
            c = compare(
                self.context.engine,
                instr,
                choice.content,
                SteeringSpec(),
                placement=as_placement(choice.placement),
                decoding=decoding,
                system_prompt=choice.system_prompt,
                watch=watch,
            )
            data = c.to_dict()
            data.pop("steered", None)
            return data

        settings = self.context.settings(choice, instr, decoding)
        updates = cached(self.context.results, "answers", settings, run, ANSWER_ROWS, stop)
        return finals(updates, lambda done: Comparison.from_dict(done.value))

    answers = whole(answers_stream)
