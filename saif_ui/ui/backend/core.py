"""The backend itself: the engine and its shared state, with every desk (SAEs, steering, training) and the
actions of the Instructions tab and the playground."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.fast.shelf import SaeShelf
from saif_ui.saif.discovery.discover import (
    DEFAULT_POSITIONS,
    DEFAULT_SCORE,
    DiscoveryConfig,
    DiscoveryResult,
    discover,
)
from saif_ui.saif.inputs.catalogue import Catalogue, load_catalogue
from saif_ui.saif.inputs.contents import Content, load_contents
from saif_ui.saif.inputs.prompts import check_text
from saif_ui.saif.judge.checkers import CHECKERS_VERSION, checker_ids
from saif_ui.saif.steering.compare import Comparison, Mode, Output, compare, run_jobs
from saif_ui.saif.steering.spec import SteeringSpec, spec_from_discovery
from saif_ui.ui.backend.base import CUSTOM, Base, as_placement
from saif_ui.ui.backend.saes import SaeDesk
from saif_ui.ui.backend.steering import RecipeView, SteeringDesk
from saif_ui.ui.backend.training import TrainingDesk
from saif_ui.ui.controls import PromptChoice
from saif_ui.ui.jobs import Jobs
from saif_ui.ui.trainings import TrainingQueue


@dataclass(frozen=True)
class LayerSide:
    """One SAE of a layer comparison: its discovery (rows only), the top-5 spec and the answer it steers."""

    sae: str
    layer: int
    discovery: DiscoveryResult
    spec: SteeringSpec
    steered: Output

    def to_dict(self) -> dict[str, Any]:
        return {
            "sae": self.sae,
            "layer": self.layer,
            "discovery": self.discovery.to_dict(),
            "spec": self.spec.to_dict(),
            "steered": self.steered.to_dict(),
        }


@dataclass(frozen=True)
class LayerComparison:
    """The same instruction and content at two SAEs (`Backend.compare_layers`)."""

    instruction: str
    checker: str | None
    sides: list[LayerSide]
    original: Output
    prompted: Output

    def to_dict(self) -> dict[str, Any]:
        return {
            "instruction": self.instruction,
            "checker": self.checker,
            "sides": [side.to_dict() for side in self.sides],
            "original": self.original.to_dict(),
            "prompted": self.prompted.to_dict(),
        }


class Backend(SaeDesk, SteeringDesk, TrainingDesk, Base):
    """The engine plus the few shared, read-mostly things the app needs: catalogue, contents, the SAE shelf."""

    def __init__(self, engine: Engine, catalogue: Catalogue | None = None) -> None:
        self.engine = engine
        self.catalogue = catalogue or load_catalogue()
        self.contents: tuple[Content, ...] = load_contents()
        self.results = engine.results
        self.shelf = SaeShelf(engine, self.results)
        self.jobs = Jobs()
        self.trainings = TrainingQueue()
        """SAE trainings asked for in the browser: one at a time for the whole server."""
        self._discoveries: OrderedDict[str, DiscoveryResult] = OrderedDict()
        """Recent discovery results with every latent's statistics, by cache key: a session keeps only the rows,
        and a spec of an unlisted latent needs its mean activation."""
        self._lock = threading.Lock()
        self._identities: dict[tuple[str, str, int], dict[str, str]] = {}
        self._recipe_views: dict[tuple[str, tuple[str, ...]], RecipeView] = {}
        """Recipe panels by (instruction with a recipe, attached SAEs): checking the shipped figures' key hashes the
        SAE's weights, too slow to repeat on every change of instruction."""
        self._labels: dict[tuple[str, str, int], dict[int, str]] = {}
        """Context labels by attached SAE (name, source, object): a few thousand short strings each."""

    def engine_info(self) -> dict[str, Any]:
        return self.engine.info()

    @property
    def default_system_prompt(self) -> bool:
        return bool(self.engine.chat.default_system_prompt)

    def end_session(self, session: str) -> list[str]:
        """A visitor left: stop their job and detach the SAEs only they held. Returns what was detached."""
        self.jobs.cancel(session)
        self.trainings.stop(session)
        return self.shelf.release(session)

    def instruction_choices(self) -> list[tuple[str, str]]:
        items = [(f"{i.id} — {i.canonical}", i.id) for i in self.catalogue]
        return [*items, ("✎ write your own…", CUSTOM)]

    def catalogue_ids(self) -> tuple[str, ...]:
        return tuple(self.catalogue.ids)

    def checker_of(self, instruction: str | None) -> str | None:
        return self.catalogue.get(str(instruction)).checker if instruction in self.catalogue else None

    @staticmethod
    def checker_choices() -> list[str]:
        return ["none", *checker_ids()]

    def content_choices(self) -> list[tuple[str, str]]:
        """Validation and test passages first: discovery never saw them, so they are the fair demo."""
        ordered = sorted(self.contents, key=lambda c: (c.split == "discovery", c.id))
        return [(f"{c.id} · {c.split} · {c.text[:70]}{'…' if len(c.text) > 70 else ''}", c.id) for c in ordered]

    def content_text(self, content_id: str) -> str:
        for c in self.contents:
            if c.id == content_id:
                return c.text
        raise SaifError(f"unknown content {content_id!r}")

    def answers(self, choice: PromptChoice, max_new_tokens: int) -> Comparison:
        """The model's answer without and with the instruction, each judged by the instruction's checker (no steered
        mode: with an empty spec it is the original answer)."""
        instr = self.instruction(choice)
        decoding = Decoding(max_new_tokens=max_new_tokens)

        def run() -> dict[str, Any]:
            c = compare(
                self.engine,
                instr,
                choice.content,
                SteeringSpec(),
                placement=as_placement(choice.placement),
                decoding=decoding,
                system_prompt=choice.system_prompt,
            )
            data = c.to_dict()
            data.pop("steered", None)
            return data

        settings = {**self._settings(choice, instr), "max": max_new_tokens}
        return Comparison.from_dict(self.results.get_or_compute("answers", settings, run)[0])

    def compare_layers(
        self, choice: PromptChoice, saes: tuple[str, str], *, top_k: int, n_contents: int, max_new_tokens: int
    ) -> LayerComparison:
        """The same instruction at two SAEs side by side: each one's discovery (its top latents with their labels)
        and the content steered by each one's top-5 latents at α = 1 (their mean presence under the instruction),
        beside the original and prompted answers — all four answers from one batched generate."""
        if len(set(saes)) != 2:
            raise SaifError("pick two different SAEs to compare")
        for sae in saes:
            if not self.has_sae(sae):
                raise SaifError(f"no attached SAE named {sae!r}")
        instr = self.instruction(choice)
        found = [
            self.discover(
                choice, sae, positions=DEFAULT_POSITIONS, score=DEFAULT_SCORE, top_k=top_k, n_contents=n_contents
            )
            for sae in saes
        ]
        specs = [spec_from_discovery(self._full(r) or r, k=min(5, top_k), alpha=1.0) for r in found]
        settings = {
            **self._settings(choice, instr),
            "saes": [self._sae_key(s) for s in saes],
            "specs": [s.to_dict() for s in specs],
            "max": max_new_tokens,
            "checkers": CHECKERS_VERSION,
        }

        def run() -> dict[str, Any]:
            jobs: list[tuple[Mode, SteeringSpec]] = [("original", SteeringSpec()), *(("steered", s) for s in specs)]
            jobs.append(("prompted", SteeringSpec()))
            outputs, _ = run_jobs(
                self.engine, instr, [("content", choice.content)], jobs,
                placement=as_placement(choice.placement), decoding=Decoding(max_new_tokens=max_new_tokens),
                system_prompt=choice.system_prompt,
            )  # fmt: skip
            return {
                "original": outputs[0][0].to_dict(),
                "steered": [outputs[1 + i][0].to_dict() for i in range(len(specs))],
                "prompted": outputs[-1][0].to_dict(),
            }

        answers = self.results.get_or_compute("compare_layers", settings, run)[0]
        return LayerComparison(
            instruction=instr.id,
            checker=instr.checker,
            sides=[
                LayerSide(sae, r.layer, r, spec, Output.from_dict(out))
                for sae, r, spec, out in zip(saes, found, specs, answers["steered"], strict=True)
            ],
            original=Output.from_dict(answers["original"]),
            prompted=Output.from_dict(answers["prompted"]),
        )

    def discover(
        self, choice: PromptChoice, sae: str, *, positions: str, score: str, top_k: int, n_contents: int
    ) -> DiscoveryResult:
        """SAIF Stage 1 (disk-cached by the library). The session gets the rows; the statistics of every latent are
        kept here (a bounded LRU) for steering with latents the rows do not list."""
        instr = self.instruction(choice)
        cfg = DiscoveryConfig(  # validates positions and score, naming the valid ones
            placement=as_placement(choice.placement),
            positions=positions,  # type: ignore[arg-type]
            score=score,  # type: ignore[arg-type]
            top_k=top_k,
            n_contents=n_contents,
            system_prompt=choice.system_prompt,
        )
        result = discover(self.engine, instr, sae, cfg)
        labels = self.latent_labels(sae)
        if labels:
            result = replace(
                result,
                latents=[replace(r, label=labels.get(r.id, "")) for r in result.latents],
                flagged=[replace(r, label=labels.get(r.id, "")) for r in result.flagged],
            )
        with self._lock:
            self._discoveries[result.cache_key] = result
            self._discoveries.move_to_end(result.cache_key)
            while len(self._discoveries) > 32:
                self._discoveries.popitem(last=False)
        return replace(result, stats=None)

    def generate(self, text: str, max_new_tokens: int, system_prompt: bool) -> tuple[str, str]:
        """The rendered prompt and the model's greedy answer to a plain user message."""
        if not text or not text.strip():
            raise SaifError("Write a prompt first.")
        full = self.engine.render(check_text(text, "the prompt"), system_prompt=system_prompt)
        gen = self.engine.generate([full], decoding=Decoding(max_new_tokens=max_new_tokens))[0]
        return full, gen.text
