"""One click to a result: every validated recipe that works on held-out passages, run end to end — discover the
latents that carry the instruction, steer a test passage without telling the model, judge the answer — beside the
prompted answer and the recipe's shipped test figures.

A demo is listed only where the shipped study measured the recipe's applied method clearing the findings' bar (at
least `GAIN` over the unsteered answers, the 95 % interval's lower bound above them), so the first screen never
promises what the test contents did not show. The passage is a test passage in file order, never picked for looking
good; the visitor steps through them and sees the rate over all of them beside each.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import DiscoveryResult
from saif_ui.saif.inputs.contents import Content, load_contents
from saif_ui.saif.judge.fidelity import chrf
from saif_ui.saif.steering.evaluate import REPETITION_LIMIT
from saif_ui.saif.studies.findings_sections import clears_bar
from saif_ui.saif.studies.steering_study import DECODING
from saif_ui.service.context import Context
from saif_ui.service.controls import PromptChoice
from saif_ui.service.discovery import Discovery
from saif_ui.service.steering import Steered, Steering
from saif_ui.service.streaming import Partial

Rate = tuple[float, float, float]
"""A success rate and its 95 % interval (low, high)."""


@dataclass(frozen=True)
class Demo:
    """A validated recipe worth one click: what it makes the model do, how, and what the test contents showed."""

    instruction: str
    wording: str
    """The instruction as the prompted column is told it."""
    category: str
    method: str
    """The recipe's applied method, as the studies name it: `steered` (SAIF's top-k latents) or a `distil_*`."""
    n: int
    """Test passages the figures come from."""
    steered: Rate
    original: Rate
    prompted: Rate
    saif_latents: tuple[int, ...] = ()
    """The latents of SAIF's top-k recipe (shown beside an adopted distilled vector, which steers with its own)."""
    applied_latents: tuple[int, ...] = ()
    """The SAE latents the applied steering combines (SAIF's, or a distilled `sae` vector's; none for a free
    vector)."""

    @property
    def gain(self) -> float:
        return self.steered[0] - self.original[0]


@dataclass(frozen=True)
class Passage:
    """The test passage a demo runs on: its place among the test passages and its text."""

    index: int
    of: int
    content: Content


@dataclass(frozen=True)
class Verdict:
    """The studies' headline verdict on one steered answer: it complies (strict checker), is not a loop, and keeps
    the content (chrF to the prompted answer at least the recipe's threshold, set on mismatched pairs)."""

    complies: bool
    repetition: float
    """Share of the answer that repeats; above `repetition_limit` it is a loop."""
    repetition_limit: float
    chrf: float
    """chrF of the steered answer to the prompted answer for the same passage."""
    threshold: float

    @property
    def loop(self) -> bool:
        return self.repetition > self.repetition_limit

    @property
    def faithful(self) -> bool:
        return self.chrf >= self.threshold

    @property
    def success(self) -> bool:
        return self.complies and not self.loop and self.faithful


class Demos:
    """The first screen's demos over the shared engine (its recipes' SAEs must be attached)."""

    def __init__(self, context: Context, discovery: Discovery, steering: Steering) -> None:
        self.context = context
        self.discovery = discovery
        self.steering = steering

    def available(self) -> list[Demo]:
        """The demos this engine can run, largest test gain first (ties by id); empty for a model with no
        validated recipe that clears the bar on test (another model, or SAEs not attached)."""
        demos = []
        for iid in sorted(self.context.catalogue.ids):
            view = self.steering.recipe_view(iid)
            if view.recipe is None or view.test is None or not view.attached or not view.test.current:
                continue
            method = view.recipe.adopted.method if view.recipe.adopted is not None else "steered"
            rates = view.test.rates
            if method not in rates or "original" not in rates or "prompted" not in rates:
                continue
            steered, original = rates[method], rates["original"]
            if not clears_bar(steered[0], steered[1], original[0]):
                continue
            instr = self.context.catalogue.get(iid)
            demos.append(
                Demo(
                    iid,
                    instr.canonical,
                    instr.category,
                    method,
                    view.test.n,
                    steered,
                    original,
                    rates["prompted"],
                    tuple(e.latent for e in view.recipe.spec.latents),
                    tuple(e.latent for e in view.recipe.steering.latents),
                )
            )
        return sorted(demos, key=lambda d: (-d.gain, d.instruction))

    def demo(self, instruction: str | None) -> Demo:
        """The demo of `instruction`; a clear error naming the ones there are."""
        found = {d.instruction: d for d in self.available()}
        if instruction not in found:
            names = ", ".join(found) or "none on this model"
            raise SaifError(f"no demo for {instruction!r}: the demos are {names}")
        return found[instruction]

    @staticmethod
    def passage(index: int) -> Passage:
        """The `index`-th test passage (wrapping around), in file order."""
        contents = load_contents("test")
        i = int(index) % len(contents)
        return Passage(i, len(contents), contents[i])

    def discover(self, instruction: str) -> DiscoveryResult:
        """Step one: SAIF's discovery for the demo's instruction at its recipe's SAE, as the recipe search ran it (its
        discovery contents and defaults), so the recipe's latents show among the top ones."""
        demo = self.demo(instruction)
        recipe = self.steering.recipe_view(demo.instruction).recipe
        assert recipe is not None  # `available` lists only recipes
        cfg = DiscoveryConfig()
        return self.discovery.discover(
            PromptChoice(demo.instruction),
            recipe.spec.latents[0].sae,
            positions=cfg.positions,
            score=cfg.score,
            top_k=10,
            n_contents=cfg.n_contents or 48,
        )

    def steer_stream(
        self, instruction: str, index: int, decoding: Decoding = DECODING, stop: threading.Event | None = None
    ) -> Iterator[Partial | Steered]:
        """Steps two and three: the test passage answered original / steered with the recipe / prompted, streamed,
        each judged (greedy and 48 tokens by default, as the studies measured it)."""
        demo = self.demo(instruction)
        content = self.passage(index).content.text
        return self.steering.steer_recipe_stream(PromptChoice(demo.instruction, content=content), decoding, stop=stop)

    def verdict(self, steered: Steered) -> Verdict:
        """The headline verdict of a demo's steered answer (as the studies count a success)."""
        recipe = self.steering.recipe_view(steered.comparison.instruction).recipe
        if recipe is None:
            raise SaifError(f"{steered.comparison.instruction!r} has no recipe, so no verdict threshold")
        out, prompted = steered.comparison.outputs["steered"], steered.comparison.outputs["prompted"]
        return Verdict(
            complies=bool(out.strict),
            repetition=out.repetition,
            repetition_limit=REPETITION_LIMIT,
            chrf=chrf(out.text, prompted.text),
            threshold=recipe.fidelity_threshold,
        )
