"""The backend's steering part: specs from the UI's controls and steered answers (latents, the validated recipe, a
ready spec, two instructions at once), streamed as they are generated and kept in the result cache; what measures a
spec over many passages is `sweeps`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.watch import Watch
from saif_ui.saif.discovery.discover import (
    DiscoveryResult,
)
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.steering.build import Application, SpecChoice, build_joint, spec_for_latents
from saif_ui.saif.steering.compare import MODES, Comparison, compare
from saif_ui.saif.steering.joint import JointSpec
from saif_ui.saif.steering.joint_eval import compare_joint
from saif_ui.saif.steering.recipe import Recipe, recipe_for
from saif_ui.saif.steering.spec import SteeringSpec
from saif_ui.saif.studies.distil_study import with_distilled
from saif_ui.saif.studies.steering_study import TestFigures, shipped_test_figures
from saif_ui.service.context import CUSTOM, Context, as_placement
from saif_ui.service.controls import PromptChoice, SteerControls
from saif_ui.service.streaming import Partial, cached, finals, whole

JOINT_MODES = ("original", "steered", "prompted")
"""The answers of two instructions steered together, in the order `compare_joint` generates them."""


@dataclass(frozen=True)
class Steered:
    """A steer's answers (one output per mode, with the spec that made them) and whether they came from the result
    cache."""

    comparison: Comparison
    cached: bool

    @property
    def spec(self) -> SteeringSpec:
        return self.comparison.spec

    @property
    def silent(self) -> list[int]:
        """Latents that add nothing at the mean_act scale (they never fire under the instruction)."""
        return [e.latent for e in self.spec.latents if self.spec.scale == "mean_act" and not e.mean_act]


@dataclass(frozen=True)
class RecipeView:
    """An instruction's validated recipe as the Steering tab shows it: the recipe, its shipped test figures, and
    whether its SAE is attached (it can only be applied then)."""

    instruction: str
    recipe: Recipe | None
    test: TestFigures | None
    attached: bool


@dataclass(frozen=True)
class _Asked:
    """What a steer compares: the prompt choice, its instruction, the spec and what names the spec in the result key
    (its SAE and spec, or the recipe)."""

    choice: PromptChoice
    instruction: Instruction
    spec: SteeringSpec
    what: dict[str, Any]


def _application(controls: SteerControls) -> Application:
    return Application(
        positions=controls.positions,  # type: ignore[arg-type]
        scale=controls.scale,  # type: ignore[arg-type]
        decay=controls.decay,
        decay_power=controls.decay_power,
        method=controls.method,  # type: ignore[arg-type]
    )


class Steering:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.engine = context.engine
        self.results = context.results
        self._recipe_views: dict[tuple[str, tuple[str, ...]], RecipeView] = {}
        """Recipe panels by (instruction with a recipe, attached SAEs): checking the shipped figures' key hashes the
        SAE's weights, too slow to repeat on every change of instruction."""

    def spec(self, discovery: DiscoveryResult | None, sae: str, controls: SteerControls) -> SteeringSpec:
        """The steering spec of the chosen latents: each latent's base is its mean activation in the discovery run
        that found it (same SAE), or its unit direction with the `unit` scale."""
        return spec_for_latents(
            self.engine,
            self.context.full(discovery),
            sae,
            controls.latents,
            controls.strength_of(),
            controls.alpha,
            _application(controls),
        )

    def steer_stream(
        self,
        choice: PromptChoice,
        sae: str,
        controls: SteerControls,
        discovery: DiscoveryResult | None,
        decoding: Decoding,
        prompted_steered: bool = False,
        stop: threading.Event | None = None,
    ) -> Iterator[Partial | Steered]:
        """Original / steered / prompted (and optionally prompted + steered) answers, judged, as they are generated:
        each mode's answer so far (`Partial`), then the `Steered` answers; `stop` ends them at the next token (the
        stopped comparison is returned, never cached). Bad controls raise here."""
        return self._compare_stream(self._latents(choice, sae, controls, discovery), decoding, prompted_steered, stop)

    steer = whole(steer_stream)

    def _latents(
        self, choice: PromptChoice, sae: str, controls: SteerControls, discovery: DiscoveryResult | None
    ) -> _Asked:
        instr = self.context.instruction(choice)
        spec = self.spec(discovery, sae, controls)  # α's one validation: SteeringSpec.__post_init__
        return _Asked(choice, instr, spec, {**self.context.sae_key(sae), "spec": spec.to_dict()})

    def _job(
        self, asked: _Asked, decoding: Decoding, prompted_steered: bool
    ) -> tuple[dict[str, Any], Callable[[Watch | None], dict[str, Any]]]:
        """A comparison's result key and its computation; `what` names the spec in the key (its SAE and spec, or the
        recipe)."""
        choice, instr = asked.choice, asked.instruction
        settings = {
            **self.context.settings(choice, instr, decoding),
            **asked.what,
            "prompted_steered": prompted_steered,
        }

        def run(watch: Watch | None) -> dict[str, Any]:
            return compare(
                self.engine,
                instr,
                choice.content,
                asked.spec,
                placement=as_placement(choice.placement),
                prompted_steered=prompted_steered,
                decoding=decoding,
                system_prompt=choice.system_prompt,
                watch=watch,
            ).to_dict()

        return settings, run

    def _compare_stream(
        self, asked: _Asked, decoding: Decoding, prompted_steered: bool, stop: threading.Event | None
    ) -> Iterator[Partial | Steered]:
        """The comparison through the result cache, streamed (`streaming.cached`): the modes' texts as they grow,
        then the answers."""
        settings, run = self._job(asked, decoding, prompted_steered)
        modes = MODES if prompted_steered else MODES[:3]
        updates = cached(self.results, "steer", settings, run, modes, stop)
        return finals(updates, lambda done: Steered(comparison=Comparison.from_dict(done.value), cached=done.cached))

    def recipe_view(self, instruction: str | None) -> RecipeView:
        recipe = recipe_for(instruction) if instruction and instruction != CUSTOM else None
        if recipe is None:
            return RecipeView(str(instruction), None, None, False)
        key = (recipe.instruction, tuple(sorted(self.engine.saes)))
        with self.context.lock:
            found = self._recipe_views.get(key)
        if found is not None and found.recipe == recipe:
            return found
        # the applied spec (an adopted distilled vector needs no SAE, or the distillation's) must be attached to run;
        # the shipped figures are keyed by SAIF's SAE
        attached = all(e.sae in self.engine.saes for e in recipe.steering.latents)
        saif_attached = all(e.sae in self.engine.saes for e in recipe.spec.latents)
        test = shipped_test_figures(self.engine, recipe) if saif_attached else None
        if test is not None:
            test = with_distilled(self.engine, recipe, test)
        view = RecipeView(recipe.instruction, recipe, test, attached)
        with self.context.lock:
            self._recipe_views[key] = view
        return view

    def steer_recipe_stream(
        self,
        choice: PromptChoice,
        decoding: Decoding,
        prompted_steered: bool = False,
        stop: threading.Event | None = None,
    ) -> Iterator[Partial | Steered]:
        """Original / steered / prompted answers with the instruction's validated recipe (its SAE, latents, α,
        positions and decay as shipped), streamed as `steer_stream`."""
        return self._compare_stream(self._recipe(choice), decoding, prompted_steered, stop)

    steer_recipe = whole(steer_recipe_stream)

    def _recipe(self, choice: PromptChoice) -> _Asked:
        view = self.recipe_view(choice.instruction)
        if view.recipe is None:
            raise SaifError(f"instruction {choice.instruction!r} has no validated recipe (see assets/recipes.json)")
        if not view.attached:
            sae = view.recipe.steering.latents[0].sae
            raise SaifError(f"the recipe steers with SAE {sae!r}, which is not attached: add it in the SAEs tab")
        recipe = view.recipe
        return _Asked(choice, self.context.instruction(choice), recipe.steering, {"recipe": recipe.to_dict()})

    def steer_spec_stream(
        self,
        choice: PromptChoice,
        spec: SteeringSpec,
        decoding: Decoding,
        prompted_steered: bool = False,
        stop: threading.Event | None = None,
    ) -> Iterator[Partial | Steered]:
        """Original / steered / prompted answers with a ready spec (a distilled vector's), streamed as
        `steer_stream`: its SAEs' weights and the spec itself name it in the result key."""
        return self._compare_stream(self._ready(choice, spec), decoding, prompted_steered, stop)

    steer_spec = whole(steer_spec_stream)

    def _ready(self, choice: PromptChoice, spec: SteeringSpec) -> _Asked:
        instr = self.context.instruction(choice)
        saes = sorted({e.sae for e in spec.latents})
        missing = [n for n in saes if not self.context.has_sae(n)]
        if missing:
            raise SaifError(f"the spec steers with SAE {missing[0]!r}, which is not attached: add it in the SAEs tab")
        return _Asked(choice, instr, spec, {"saes": [self.context.sae_key(n) for n in saes], "spec": spec.to_dict()})

    def joint_spec(self, first: str | None, second: str | None, weights: Sequence[float], sae: str | None) -> JointSpec:
        """Two catalogue instructions steering together, a weight each: each by its validated recipe when its SAE is
        attached, else by its top-5 latents discovered at `sae`."""
        if not first or not second or CUSTOM in (first, second):
            raise SaifError("pick two catalogue instructions (a custom instruction has no recipe to combine)")
        if first == second:
            raise SaifError(f"pick a second instruction other than {first!r}")
        choices = []
        for iid in (first, second):
            self.context.catalogue.get(iid)  # an unknown id names the valid ones
            view = self.recipe_view(iid)
            if view.recipe is not None and view.attached:
                choices.append(SpecChoice(iid, recipe=True))
            elif sae and self.context.has_sae(sae):
                choices.append(SpecChoice(iid, layer=self.engine.sae(sae).layer, top_k=5))
            else:
                raise SaifError(f"{iid!r} has no recipe whose SAE is attached: pick an SAE to discover its latents")
        return build_joint(self.engine, choices, [float(w) for w in weights])

    def steer_joint_stream(
        self,
        choice: PromptChoice,
        second: str | None,
        weights: Sequence[float],
        sae: str | None,
        decoding: Decoding,
        stop: threading.Event | None = None,
    ) -> Iterator[Partial | dict[str, Any]]:
        """Original / steered by both / prompted with both, each answer judged by both checkers, streamed as
        `steer_stream`: the three answers so far (`Partial`), then the result (with `stopped` True when a Stop
        cut it)."""
        settings, run = self._joint_job(choice, second, weights, sae, decoding)
        return finals(
            cached(self.results, "steer_joint", settings, run, JOINT_MODES, stop),
            lambda done: {**done.value, "stopped": True} if done.stopped else dict(done.value),
        )

    steer_joint = whole(steer_joint_stream)

    def _joint_job(
        self, choice: PromptChoice, second: str | None, weights: Sequence[float], sae: str | None, decoding: Decoding
    ) -> tuple[dict[str, Any], Callable[[Watch | None], dict[str, Any]]]:
        joint = self.joint_spec(choice.instruction, second, weights, sae)
        settings = {
            **self.context.settings(choice, self.context.instruction(choice), decoding),
            "joint": joint.to_dict(),
            "saes": [self.context.sae_key(n) for n in sorted({e.sae for p in joint.parts for e in p.spec.latents})],
        }

        def run(watch: Watch | None) -> dict[str, Any]:
            return compare_joint(
                self.engine,
                joint,
                choice.content,
                placement=as_placement(choice.placement),
                decoding=decoding,
                system_prompt=choice.system_prompt,
                watch=watch,
            ).to_dict()

        return settings, run
