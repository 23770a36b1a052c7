"""The dashboard's only door to the library: each action takes the UI's typed controls (`ui.controls`), calls
`saif_ui.saif` / `saif_ui.fast` on the shared engine, and returns the library's typed results or JSON-able data.
No gradio here, no torch, no science: what a spec, a card or a map is made of is the library's business.

Repeated requests are answered from the engine's byte-bounded result cache keyed by every setting (as Neuronpedia
keys its steering cache by input + settings), so a demo that re-runs the same steer gets it back without the model.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from saif_ui.engine import Engine, jsonsafe
from saif_ui.engine.cache import sae_identity
from saif_ui.engine.errors import SaifError
from saif_ui.engine.model import ModelLoadError
from saif_ui.engine.shared import get_engine
from saif_ui.fast import served
from saif_ui.fast.pipeline import PipelineConfig
from saif_ui.fast.shelf import SaeShelf
from saif_ui.fast.summary import COLUMNS as QUALITY_COLUMNS
from saif_ui.fast.train_log import LOG_NAME, read_curves
from saif_ui.saif.discovery.discover import (
    DEFAULT_POSITIONS,
    DEFAULT_SCORE,
    DiscoveryConfig,
    DiscoveryResult,
    discover,
    pick_contents,
)
from saif_ui.saif.discovery.scoring import POSITIONS, SCORES
from saif_ui.saif.inputs.catalogue import Catalogue, Instruction, load_catalogue
from saif_ui.saif.inputs.contents import Content, contents_version, load_contents
from saif_ui.saif.inputs.prompts import Placement, build_pairs, build_prompt, check_text
from saif_ui.saif.interpret.cards_store import find_cards, latent_cards
from saif_ui.saif.interpret.heatmap import pair_heatmaps
from saif_ui.saif.interpret.labels import labels_of
from saif_ui.saif.interpret.latent_card import LatentCard, latent_card
from saif_ui.saif.interpret.umap_map import umap_available, umap_coords
from saif_ui.saif.judge.checkers import CHECKERS_VERSION, checker_ids
from saif_ui.saif.steering.ablation import Ablation, ablate
from saif_ui.saif.steering.build import Application, SpecChoice, build_joint, spec_for_latents
from saif_ui.saif.steering.compare import MODES, Comparison, Decoding, Output, compare
from saif_ui.saif.steering.evaluate import EvalConfig, Evaluation, Summary, evaluate
from saif_ui.saif.steering.joint import JointConfig, JointSpec, compare_joint, evaluate_joint
from saif_ui.saif.steering.recipe import Recipe, load_recipes, recipe_for
from saif_ui.saif.steering.spec import MAX_ABS_ALPHA, MAX_ABS_STRENGTH, SCALES, SteeringSpec
from saif_ui.saif.steering.special import SpecialGrid, special_latents, special_token_grid
from saif_ui.saif.studies.steering_study import TestFigures, shipped_test_figures
from saif_ui.ui.controls import ControlError, PromptChoice, SteerControls, TrainControls
from saif_ui.ui.jobs import Busy, Cancelled, Jobs
from saif_ui.ui.trainings import AlreadyTraining, QueueFull, TrainingQueue, TrainingView

__all__ = [
    "CUSTOM",
    "DEFAULT_POSITIONS",
    "DEFAULT_SCORE",
    "LOW_COMPLIANCE",
    "MAX_ABS_ALPHA",
    "MAX_ABS_STRENGTH",
    "MODES",
    "POSITIONS",
    "QUALITY_COLUMNS",
    "SCALES",
    "SCORES",
    "USER_ERRORS",
    "Ablation",
    "Backend",
    "Busy",
    "Cancelled",
    "Comparison",
    "Decoding",
    "DiscoveryResult",
    "Engine",
    "Evaluation",
    "Instruction",
    "LatentCard",
    "Output",
    "RecipeView",
    "SaifError",
    "SpecialGrid",
    "Steered",
    "Summary",
    "get_engine",
    "read_json",
]

MAX_ABLATION_CONTENTS = 24
MAX_SWEEP_CONTENTS = 24
"""Validation contents a joint sweep runs on: 24 × 8 cells is already ~200 answers, minutes on a CPU."""
"""An ablation evaluates 2k variants: its contents are capped so one request stays bounded."""
CUSTOM = "custom"
"""Value of the instruction dropdown's entry for a user-written instruction."""
LOW_COMPLIANCE = 0.5
"""Below this prompted compliance the model mostly ignores the instruction even when told: steering is then
unlikely to do better (AxBench: prompting beats steering), and the UI says so."""
USER_ERRORS: tuple[type[Exception], ...] = (
    SaifError,
    ControlError,
    ModelLoadError,
    Cancelled,
    Busy,
    AlreadyTraining,
    QueueFull,
)
"""What bad input raises: the project's own error classes only (`SaifError` covers SpecError, SAELoadError,
ContentFormatError, UnknownInstructionError, UnknownCheckerError and every validation of the library; `ControlError`
the UI's parsing of its controls). Any other exception, a KeyError or a plain ValueError included, is a bug: the UI
must not present it as the user's fault."""


read_json = jsonsafe.loads
"""JSON a visitor sent, read with bounded size and nesting (a `SaifError` says what is wrong)."""


def as_placement(value: str) -> Placement:
    """A placement from a UI value; positives need the instruction before (`pre`) or after (`post`) the content."""
    if value not in ("post", "pre"):
        raise SaifError(f"placement must be post or pre, not {value!r}")
    return value  # type: ignore[return-value]


def _application(controls: SteerControls) -> Application:
    return Application(
        positions=controls.positions,  # type: ignore[arg-type]
        scale=controls.scale,  # type: ignore[arg-type]
        decay=controls.decay,
        decay_power=controls.decay_power,
    )


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


class Backend:
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
        self._labels: dict[tuple[str, str, int], dict[int, str]] = {}
        """Context labels by attached SAE (name, source, object): a few thousand short strings each."""
        """Recipe panels by (instruction with a recipe, attached SAEs): checking the shipped figures' key hashes the
        SAE's weights, too slow to repeat on every change of instruction."""

    def _sae_key(self, sae: str) -> dict[str, str]:
        """The SAE's source and weight fingerprint, for result keys (hashing the weights once per attached SAE)."""
        obj = self.engine.sae(sae)
        ident = (sae, obj.source, id(obj))
        with self._lock:
            found = self._identities.get(ident)
        if found is None:
            found = sae_identity(obj)
            with self._lock:
                self._identities[ident] = found
        return found

    # ---------------------------------------------------------------- facts

    @property
    def model_id(self) -> str:
        return str(self.engine.loaded.model_id)

    def engine_info(self) -> dict[str, Any]:
        return self.engine.info()

    @property
    def default_system_prompt(self) -> bool:
        return bool(self.engine.chat.default_system_prompt)

    def sae_names(self) -> list[str]:
        """Attached SAEs, shallowest layer first."""
        return self.engine.sae_names()

    def has_sae(self, sae: str | None) -> bool:
        return bool(sae) and sae in self.engine.saes

    def sae_info(self, sae: str) -> dict[str, Any]:
        return self.engine.sae(sae).info()

    def sae_choices(self, session: str | None = None) -> list[tuple[str, str]]:
        """The SAE dropdown's entries for `session`: the shared SAEs and those it attached (gradio refuses any other
        value, so a visitor cannot reach another's upload through the API either)."""
        return [(f"{n} · layer {self.engine.sae(n).layer}", n) for n in self.shelf.visible(session)]

    def sae_table_rows(self, session: str | None = None) -> list[dict[str, Any]]:
        """`info()` of each SAE the session can see, for the SAEs tab's table."""
        return [self.engine.sae(n).info() for n in self.shelf.visible(session)]

    def end_session(self, session: str) -> list[str]:
        """A visitor left: stop their job and detach the SAEs only they held. Returns what was detached."""
        self.jobs.cancel(session)
        self.trainings.stop(session)
        return self.shelf.release(session)

    def default_sae(self) -> str | None:
        """The deepest attached SAE that a validated recipe steers with, else the deepest attached SAE. SAIF finds
        steering works best in the last layers; on this model the layers study found the last one (L27) steers worse
        than L24, so the default follows the layers the recipes chose on validation."""
        names = self.sae_names()
        if not names:
            return None
        try:
            used = {e.sae for r in load_recipes().values() for e in r.spec.latents}
        except SaifError:
            used = set()
        chosen = [n for n in names if n in used]
        return (chosen or names)[-1]

    def latent_id(self, sae: str, value: Any) -> int:
        """A latent id of `sae` from a control's value: a whole number in 0..d_sae-1, else a `SaifError` saying so."""
        d_sae = self.engine.sae(sae).d_sae
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None or number != number or number % 1 or not 0 <= number < d_sae:
            raise SaifError(f"latent ids of {sae} are whole numbers 0..{d_sae - 1}, not {value!r}")
        return int(number)

    def layers(self, session: str | None = None) -> dict[int, str]:
        """Layer -> the first SAE reading it that `session` can see."""
        out: dict[int, str] = {}
        for name in self.shelf.visible(session):
            out.setdefault(self.engine.sae(name).layer, name)
        return out

    def layer_of(self, sae: str | None) -> int | None:
        return self.engine.sae(sae).layer if sae and sae in self.engine.saes else None

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

    # ---------------------------------------------------------------- instructions and prompts

    def instruction(self, choice: PromptChoice) -> Instruction:
        """A catalogue instruction, or a custom one from `custom_text` (one wording per line, first canonical)."""
        if not choice.instruction:
            raise SaifError("pick an instruction first")
        if choice.instruction != CUSTOM:
            return self.catalogue.get(choice.instruction)
        lines = [line.strip() for line in (choice.custom_text or "").splitlines() if line.strip()]
        if not lines:
            raise SaifError("write your instruction (one wording per line) or pick one from the catalogue")
        checker = None if choice.checker in (None, "", "none") else choice.checker
        return Instruction.custom(lines, checker=checker)

    def prompts(self, choice: PromptChoice, wording: str | None = None) -> tuple[str, str]:
        """The exact rendered positive (content + instruction) and negative (content alone)."""
        instr = self.instruction(choice)
        said = wording or instr.canonical
        chat, system = self.engine.chat, choice.system_prompt
        pos = build_prompt(chat, choice.content, said, as_placement(choice.placement), system_prompt=system)
        neg = build_prompt(chat, choice.content, None, "none", system_prompt=system)
        self.engine.prompt_ids(pos.text)  # the length limit, said here too: what is shown is what may be run
        return pos.text, neg.text

    def _settings(self, choice: PromptChoice, instr: Instruction) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "instruction": instr.fingerprint,
            "checkers": CHECKERS_VERSION,
            "content": choice.content,
            "placement": choice.placement,
            "system": choice.system_prompt,
        }

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

    # ---------------------------------------------------------------- discovery

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

    def _full(self, discovery: DiscoveryResult | None) -> DiscoveryResult | None:
        if discovery is None:
            return None
        with self._lock:
            return self._discoveries.get(discovery.cache_key, discovery)

    def spec(self, discovery: DiscoveryResult | None, sae: str, controls: SteerControls) -> SteeringSpec:
        """The steering spec of the chosen latents: each latent's base is its mean activation in the discovery run
        that found it (same SAE), or its unit direction with the `unit` scale."""
        return spec_for_latents(
            self.engine,
            self._full(discovery),
            sae,
            controls.latents,
            controls.strength_of(),
            controls.alpha,
            _application(controls),
        )

    # ---------------------------------------------------------------- interpretation

    def heatmaps(self, choice: PromptChoice, sae: str, latents: Sequence[int]) -> dict[str, Any]:
        """Activations of `latents` on every token of the positive and the negative prompt of one content."""
        instr = self.instruction(choice)
        [pair] = build_pairs(
            self.engine.chat,
            [("content", choice.content)],
            [instr.canonical],
            as_placement(choice.placement),
            system_prompt=choice.system_prompt,
        )
        maps = pair_heatmaps(self.engine, sae, pair, [self.latent_id(sae, i) for i in latents])
        return {name: h.to_dict() for name, h in maps.items()}

    def card(self, sae: str, latent: Any) -> LatentCard:
        """The latent's card: what its weights say and, when its SAE has activation cards (shipped or cached), its
        top contexts and histogram on held-out chats."""
        latent = self.latent_id(sae, latent)
        cards = find_cards(self.engine, sae)
        settings = {
            "model": self.model_id,
            **self._sae_key(sae),
            "latent": latent,
            "cards": cards.key if cards is not None else None,
        }

        def run() -> dict[str, Any]:
            card = latent_card(self.engine, sae, latent, lens=10, n_neighbours=12, cards=cards)
            return replace(card, label=self.latent_labels(sae).get(latent, "")).to_dict()

        return LatentCard.from_dict(self.results.get_or_compute("card", settings, run)[0])

    def latent_labels(self, sae: str) -> dict[int, str]:
        """Latent -> its label from its top contexts (`interpret.labels`: shipped, cached, or made from the SAE's
        cards once), {} while the SAE has no cards. Kept per attached SAE, so a discovery, a card or a map redraw
        does not read the cards again; an SAE without cards is looked at again next time (its cards may be computed
        meanwhile)."""
        obj = self.engine.sae(sae)
        key = (sae, obj.source, id(obj))
        with self._lock:
            found = self._labels.get(key)
        if found is None:
            found = labels_of(self.engine, sae)
            if found:
                with self._lock:
                    for gone in [k for k in self._labels if k[0] not in self.engine.saes]:
                        del self._labels[gone]  # detached SAEs: the dict never outgrows what is attached
                    self._labels[key] = found
        return found

    def compute_cards(self, sae: str) -> str:
        return latent_cards(self.engine, sae).source

    def umap_ready(self, sae: str) -> bool:
        """True when the SAE's UMAP map is shipped or cached (showing it is then instant)."""
        return umap_available(self.engine.sae(sae), self.engine.config.cache_dir)

    def umap(self, sae: str) -> np.ndarray:
        return umap_coords(self.engine.sae(sae), self.engine.config.cache_dir)

    # ---------------------------------------------------------------- steering

    @staticmethod
    def decoding(max_new_tokens: Any, do_sample: Any, temperature: Any, top_p: Any, seed: Any) -> Decoding:
        """Generation settings from the Decoding controls (validated by the library's `Decoding`)."""
        return Decoding(int(max_new_tokens), bool(do_sample), float(temperature), float(top_p), int(seed or 0))

    def steer(
        self,
        choice: PromptChoice,
        sae: str,
        controls: SteerControls,
        discovery: DiscoveryResult | None,
        decoding: Decoding,
        prompted_steered: bool = False,
    ) -> Steered:
        """Original / steered / prompted (and optionally prompted + steered) answers, judged."""
        instr = self.instruction(choice)
        how = _application(controls)
        spec = spec_for_latents(  # α's one validation: SteeringSpec.__post_init__
            self.engine, self._full(discovery), sae, controls.latents, controls.strength_of(), controls.alpha, how
        )
        return self._compare(
            choice, instr, spec, {**self._sae_key(sae), "spec": spec.to_dict()}, decoding, prompted_steered
        )

    def _compare(
        self,
        choice: PromptChoice,
        instr: Instruction,
        spec: SteeringSpec,
        what: dict[str, Any],
        decoding: Decoding,
        prompted_steered: bool,
    ) -> Steered:
        """`compare` through the result cache; `what` names the spec in the key (its SAE and spec, or the recipe)."""
        settings = {
            **self._settings(choice, instr),
            **what,
            "prompted_steered": prompted_steered,
            "decoding": asdict(decoding),
        }

        def run() -> dict[str, Any]:
            return compare(
                self.engine,
                instr,
                choice.content,
                spec,
                placement=as_placement(choice.placement),
                prompted_steered=prompted_steered,
                decoding=decoding,
                system_prompt=choice.system_prompt,
            ).to_dict()

        data, cached = self.results.get_or_compute("steer", settings, run)
        return Steered(comparison=Comparison.from_dict(data), cached=cached)

    def recipe_view(self, instruction: str | None) -> RecipeView:
        recipe = recipe_for(instruction) if instruction and instruction != CUSTOM else None
        if recipe is None:
            return RecipeView(str(instruction), None, None, False)
        key = (recipe.instruction, tuple(sorted(self.engine.saes)))
        with self._lock:
            found = self._recipe_views.get(key)
        if found is not None and found.recipe == recipe:
            return found
        attached = all(e.sae in self.engine.saes for e in recipe.spec.latents)
        test = shipped_test_figures(self.engine, recipe) if attached else None
        view = RecipeView(recipe.instruction, recipe, test, attached)
        with self._lock:
            self._recipe_views[key] = view
        return view

    def steer_recipe(self, choice: PromptChoice, decoding: Decoding, prompted_steered: bool = False) -> Steered:
        """Original / steered / prompted answers with the instruction's validated recipe (its SAE, latents, α,
        positions and decay as shipped)."""
        view = self.recipe_view(choice.instruction)
        if view.recipe is None:
            raise SaifError(f"instruction {choice.instruction!r} has no validated recipe (see assets/recipes.json)")
        if not view.attached:
            sae = view.recipe.spec.latents[0].sae
            raise SaifError(f"the recipe steers with SAE {sae!r}, which is not attached: add it in the SAEs tab")
        instr = self.instruction(choice)
        recipe = view.recipe
        return self._compare(choice, instr, recipe.spec, {"recipe": recipe.to_dict()}, decoding, prompted_steered)

    def evaluate(
        self,
        choice: PromptChoice,
        sae: str,
        controls: SteerControls,
        discovery: DiscoveryResult | None,
        alphas: Sequence[float],
        n_contents: int,
        max_new_tokens: int,
        prompted_steered: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> Evaluation:
        """Compliance and fluency of the spec at each α on `n_contents` validation passages, with both baselines."""
        instr = self.instruction(choice)
        spec = self.spec(discovery, sae, controls)
        cfg = EvalConfig(
            alphas=tuple(float(a) for a in alphas),
            n_contents=n_contents,
            placement=as_placement(choice.placement),
            decoding=Decoding(max_new_tokens=max_new_tokens),
            prompted_steered=prompted_steered,
        )
        settings = {
            "model": self.model_id,
            "instruction": instr.fingerprint,
            "checkers": CHECKERS_VERSION,
            **self._sae_key(sae),
            "contents": contents_version(),
            "spec": spec.to_dict(),
            "cfg": asdict(cfg),
        }

        def run() -> dict[str, Any]:
            return dict(evaluate(self.engine, instr, spec, cfg=cfg, progress=progress).to_dict())

        return Evaluation.from_dict(self.results.get_or_compute("evaluate", settings, run)[0])

    # ---------------------------------------------------------------- two instructions at once

    def joint_spec(self, first: str | None, second: str | None, weights: Sequence[float], sae: str | None) -> JointSpec:
        """Two catalogue instructions steering together, a weight each: each by its validated recipe when its SAE is
        attached, else by its top-5 latents discovered at `sae`."""
        if not first or not second or CUSTOM in (first, second):
            raise SaifError("pick two catalogue instructions (a custom instruction has no recipe to combine)")
        if first == second:
            raise SaifError(f"pick a second instruction other than {first!r}")
        choices = []
        for iid in (first, second):
            self.catalogue.get(iid)  # an unknown id names the valid ones
            view = self.recipe_view(iid)
            if view.recipe is not None and view.attached:
                choices.append(SpecChoice(iid, recipe=True))
            elif sae and self.has_sae(sae):
                choices.append(SpecChoice(iid, layer=self.engine.sae(sae).layer, top_k=5))
            else:
                raise SaifError(f"{iid!r} has no recipe whose SAE is attached: pick an SAE to discover its latents")
        return build_joint(self.engine, choices, [float(w) for w in weights])

    def steer_joint(
        self, choice: PromptChoice, second: str | None, weights: Sequence[float], sae: str | None, decoding: Decoding
    ) -> dict[str, Any]:
        """Original / steered by both / prompted with both: each answer judged by both checkers."""
        joint = self.joint_spec(choice.instruction, second, weights, sae)
        settings = {
            **self._settings(choice, self.instruction(choice)),
            "joint": joint.to_dict(),
            "saes": [self._sae_key(n) for n in sorted({e.sae for p in joint.parts for e in p.spec.latents})],
            "decoding": asdict(decoding),
        }

        def run() -> dict[str, Any]:
            return compare_joint(
                self.engine,
                joint,
                choice.content,
                placement=as_placement(choice.placement),
                decoding=decoding,
                system_prompt=choice.system_prompt,
            ).to_dict()

        return dict(self.results.get_or_compute("steer_joint", settings, run)[0])

    def sweep_joint(
        self,
        choice: PromptChoice,
        second: str | None,
        values: Sequence[float],
        sae: str | None,
        n_contents: int,
        max_new_tokens: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Joint compliance over every combination of the two weights in `values` (but both off), on `n_contents`
        validation passages, beside both baselines and each instruction prompted alone."""
        if not 2 <= n_contents <= MAX_SWEEP_CONTENTS:
            raise SaifError(f"a joint sweep runs on 2 to {MAX_SWEEP_CONTENTS} contents, not {n_contents}")
        values = tuple(dict.fromkeys(float(v) for v in values))
        cells = tuple(w for w in itertools.product(values, repeat=2) if any(w))
        joint = self.joint_spec(choice.instruction, second, (1.0, 1.0), sae)
        cfg = JointConfig(
            weights=cells,
            placement=as_placement(choice.placement),
            decoding=Decoding(max_new_tokens=max_new_tokens),
        )
        cfg.cells(2)  # a grid too large fails before anything runs
        contents = pick_contents(load_contents("validation"), n_contents)
        settings = {
            "model": self.model_id,
            "joint": joint.to_dict(),
            "checkers": CHECKERS_VERSION,
            "contents": contents_version(),
            "n": n_contents,
            "cfg": asdict(cfg),
        }

        def run() -> dict[str, Any]:
            return evaluate_joint(self.engine, joint, contents, cfg, progress).to_dict()

        return dict(self.results.get_or_compute("sweep_joint", settings, run)[0])

    def ablate(
        self,
        choice: PromptChoice,
        sae: str,
        controls: SteerControls,
        discovery: DiscoveryResult | None,
        n_contents: int,
        max_new_tokens: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> Ablation:
        """Drop-one and add-one rates of the chosen latents at their α on `n_contents` validation passages."""
        instr = self.instruction(choice)
        spec = self.spec(discovery, sae, controls)
        contents = pick_contents(load_contents("validation"), max(2, min(int(n_contents), MAX_ABLATION_CONTENTS)))
        cfg = EvalConfig(
            n_contents=None, placement=as_placement(choice.placement), decoding=Decoding(max_new_tokens=max_new_tokens)
        )
        settings = {
            "model": self.model_id,
            "instruction": instr.fingerprint,
            "checkers": CHECKERS_VERSION,
            **self._sae_key(sae),
            "contents": [c.id for c in contents],
            "spec": spec.to_dict(),
            "cfg": asdict(cfg),
        }

        def run() -> dict[str, Any]:
            return ablate(self.engine, instr, spec, contents, cfg, progress).to_dict()

        return Ablation.from_dict(self.results.get_or_compute("ablation", settings, run)[0])

    def special_choices(self, sae: str | None) -> list[tuple[str, str]]:
        """The SAE's special-token latents (from its report), strongest first, labelled with their token."""
        if not sae:
            return []
        rows = [
            (r["avg_max"], r["id"], token) for token, items in special_latents(self.engine, sae).items() for r in items
        ]
        seen: dict[int, str] = {}
        for avg, i, token in sorted(rows, key=lambda r: (-r[0], r[1])):
            seen.setdefault(int(i), f"#{i} {token} (avg max {avg:.0f})")
        return [(label, str(i)) for i, label in seen.items()]

    def special_grid(
        self,
        sae: str,
        latent: int | None,
        content: str,
        alphas: Sequence[float],
        max_new_tokens: int,
        instruction: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> SpecialGrid:
        """FAST's special-token intervention: one special-token latent added at growing α, the answer at each
        (judged by `instruction`'s checker when it is a catalogue id); latent None takes the strongest."""
        judge = instruction if instruction in self.catalogue else None
        latent = None if latent is None else self.latent_id(sae, latent)
        settings = {
            "model": self.model_id,
            **self._sae_key(sae),
            "checkers": CHECKERS_VERSION,
            "latent": latent,
            "content": content,
            "alphas": list(alphas),
            "max": max_new_tokens,
            "instruction": judge,
        }

        def run() -> dict[str, Any]:
            return special_token_grid(
                self.engine,
                sae,
                content,
                latent,
                tuple(alphas),
                decoding=Decoding(max_new_tokens=max_new_tokens),
                instruction=judge,
                progress=progress,
            ).to_dict()

        return SpecialGrid.from_dict(self.results.get_or_compute("grid", settings, run)[0])

    # ---------------------------------------------------------------- the SAE shelf

    def report(self, sae: str) -> dict[str, Any] | None:
        return self.shelf.report(sae)

    def manifest(self, sae: str) -> dict[str, Any] | None:
        return self.shelf.manifest(sae)

    def training_curves(self, sae: str) -> dict[str, list[tuple[float, float]]]:
        return self.shelf.training_curves(sae)

    def measure_quality(self, sae: str) -> dict[str, Any]:
        return self.shelf.measure_quality(sae)

    def add_registry_sae(self, source: str, session: str) -> str:
        return self.shelf.add_registry_sae(source, session)

    def add_uploaded_sae(self, files: Sequence[str], session: str) -> str:
        return self.shelf.add_uploaded_sae(files, session)

    # ---------------------------------------------------------------- training in the browser

    def training_defaults(self) -> TrainControls:
        d = served.DEFAULTS
        return TrainControls(d.layer, d.method, d.arch, d.d_sae, float(d.k), d.tokens, d.seed)

    def training_configs(self, form: TrainControls, side_by_side: bool) -> list[PipelineConfig]:
        """The pipeline runs a Train request makes: one, or FAST and BT with the same budget (side by side)."""
        methods = ["fast", "bt"] if side_by_side else [form.method]
        return [
            served.configure(
                form.layer, m, form.arch, form.d_sae, form.sparsity, form.tokens, form.seed, self.engine.n_layers
            )
            for m in methods
        ]

    def training_estimate(self, form: TrainControls, side_by_side: bool) -> float:
        """Seconds the request should take on the 2-core machine (see `fast.served`)."""
        return sum(served.estimate_seconds(self.engine, c) for c in self.training_configs(form, side_by_side))

    def start_training(self, session: str, form: TrainControls, side_by_side: bool) -> TrainingView:
        """Queue the request (checked first); when it runs, each SAE is trained, reported and attached for
        `session`. The view says its place in the queue."""
        configs = self.training_configs(form, side_by_side)
        label = " + ".join(f"{c.method.upper()} L{c.layer} {c.arch} d_sae {c.d_sae}" for c in configs)
        folders = tuple(str(served.folder_for(self.engine, session, c)) for c in configs)
        estimate = sum(served.estimate_seconds(self.engine, c) for c in configs)
        return self.trainings.submit(
            session,
            label,
            lambda monitor: served.train_for(self.engine, self.shelf, session, configs, monitor),
            estimate_s=estimate,
            folders=folders,
        )

    def training_status(self, session: str) -> TrainingView | None:
        return self.trainings.status(session)

    def stop_training(self, session: str) -> bool:
        return self.trainings.stop(session)

    def training_live_curves(self, view: TrainingView | None) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """Folder name -> the curves its training has written so far (read while it grows)."""
        if view is None:
            return {}
        out = {}
        for folder in view.folders:
            curves = read_curves(Path(folder) / LOG_NAME)
            if curves:
                out[Path(folder).name] = curves
        return out

    # ---------------------------------------------------------------- playground

    def generate(self, text: str, max_new_tokens: int, system_prompt: bool) -> tuple[str, str]:
        """The rendered prompt and the model's greedy answer to a plain user message."""
        if not text or not text.strip():
            raise SaifError("Write a prompt first.")
        full = self.engine.render(check_text(text, "the prompt"), system_prompt=system_prompt)
        gen = self.engine.generate([full], max_new_tokens=max_new_tokens)[0]
        return full, gen.text
