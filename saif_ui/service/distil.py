"""The backend's distillation part: a steering vector distilled from the prompted model (`saif.distil`) for a visitor
of a shared server, inside a bounded budget, run in the background with its loss and validation checks readable while
it trains, Stop, and its result: the latents it is made of, its SAE reading and a spec the Steering tab steers with.

A distillation uses every core for minutes, so, like an SAE training, it runs in a queue of its own: one at a time per
server, at most one per visitor, Stop honoured between steps (the vector trained so far is kept, its reading
skipped). What a visitor may choose is the instruction (a catalogue one: validation needs its checker), the layer
(one an attached SAE reads, so the vector can be read), the basis and the budget in steps; everything else is
`DistilConfig`'s defaults. The estimate said before a run starts comes from the rates below, measured on the 2-core
machine, scaled by the work each phase does; it is an estimate, not a promise.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, cast

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.distil.config import BASES, Basis, DistilConfig
from saif_ui.saif.distil.reading import read_distilled
from saif_ui.saif.distil.train import Distilled, distil
from saif_ui.saif.steering.spec import SteeringSpec
from saif_ui.service.context import CUSTOM, Context
from saif_ui.service.controls import PromptChoice, SteerControls, whole
from saif_ui.service.jobs import Cancelled
from saif_ui.service.steering import Steered, Steering
from saif_ui.service.streaming import Partial
from saif_ui.service.trainings import MAX_REMEMBERED, TrainingQueue, TrainingView

MAX_STEPS = 120
"""The most optimiser steps one request may ask for: about 6 minutes of steps at layer 15 on 2 cores (11 on the
slower machine of the first measurement), plus the preparing, checks and reading."""
MAX_QUEUED = 4
"""Distillations waiting or running at once, all visitors together."""
BASE = DistilConfig()
"""Every setting a visitor does not choose: the library's defaults."""

# Rates of the 2-core machine (SmolLM2-135M, fp32) at DistilConfig's defaults (16 training contents, 48 answer
# tokens, 8 validation contents), measured on 2026-12-04 on a quiet machine by timing each phase of
# `distil(engine, "french", DistilConfig(basis=...))` (the whole default run: `python -m saif_ui distil --instruction
# french` 214 s wall for sae, 212 s for free, model load included): the prompted answers 8 s; the sae basis's
# candidates (SAIF's discovery on 48 contents and the latents the answers raise) 6 s; one step 2.75 s at layer 15;
# one check 5.4 s (9 s the first); the reading 6 s. The first measurement (2026-12-03, another job sharing the
# cores, on a slower CPU) was about twice as long per step: CPUs differ between machines, so this is an estimate.
STEP_S = 2.75
"""One optimiser step at layer 15 (a forward and backward of the 14 blocks above it and the head, 16 contents)."""
HEAD_SHARE = 0.35
"""Share of a layer-15 step that does not depend on the layer (the final norm, the head over the vocabulary and
the loss): a step at layer L costs STEP_S × (HEAD_SHARE + (1 − HEAD_SHARE) × blocks above L / 14) (from the first
measurement: 6.2 s at layer 8, 2.2 s at layer 27)."""
CHECK_S = 6.0
"""One validation check: the vector steering 8 validation contents for 48 tokens, judged."""
PREPARE_S = {"sae": 15.0, "free": 9.0}
"""Before the first step: the prompted answers of the training contents; the `sae` basis also ranks its candidate
latents (SAIF's discovery on 48 contents and the latents the instruction raises along the answers)."""
READING_S = {"sae": 6.0, "free": 12.0}
"""After the last step: the effect check's prompted answers (8 contents) and forwards, SAIF's top latents (cached by
the candidates for `sae`; about 5 s more for `free`, whose discovery is not cached yet), for `free` a sparse fit over
every latent."""


@dataclass(frozen=True)
class DistilControls:
    """The Distil panel's form."""

    instruction: str
    layer: int
    basis: str
    steps: int

    @classmethod
    def parse(cls, instruction: Any, layer: Any, basis: Any, steps: Any) -> DistilControls:
        return cls(
            instruction=str(instruction or ""),
            layer=whole(layer, "the layer"),
            basis=str(basis or ""),
            steps=whole(steps, "the budget (steps)"),
        )


@dataclass(frozen=True)
class Chip:
    """One latent of a `sae` vector: its id, its coefficient (strength of its unit direction) and its label."""

    latent: int
    coefficient: float
    label: str


@dataclass(frozen=True)
class DistilResult:
    """A finished (or stopped) distillation as the panel shows it."""

    summary: dict[str, Any]
    """`Distilled.summary()`: instruction, layer, basis, norm, best step, validation, seconds."""
    spec: SteeringSpec
    """What steers with the vector: the latents' unit directions × coefficients (`sae`), else the vector; α 1."""
    sae: str | None
    chips: tuple[Chip, ...]
    """`sae` basis: the kept latents, largest |coefficient| first; empty for `free` (its reading lists its latents)."""
    reading: dict[str, Any] | None
    """`Reading.to_dict()`: shares of the top 5/10/20, SAIF overlap, effect; None when stopped or no SAE reads it."""
    stopped: bool
    """Stop was pressed: the vector is the best one so far and its reading was skipped."""

    def steer_controls(self) -> SteerControls:
        """The Steering tab's controls that steer with a `sae` vector: its latents at the `unit` scale, α the largest
        |coefficient| and each strength its coefficient / α (so the strengths fit the tab's sliders); the same spec
        as `spec`. A `free` vector is no combination of latents: a SaifError says so."""
        if not self.chips:
            raise SaifError("a free vector is no combination of latents: steer with it here, not in the controls")
        alpha = max(abs(c.coefficient) for c in self.chips) or 1.0
        return SteerControls(
            latents=tuple(c.latent for c in self.chips),
            strengths=tuple(c.coefficient / alpha for c in self.chips),
            alpha=alpha,
            positions=self.spec.positions,
            scale="unit",
        )


@dataclass
class Live:
    """What a running distillation has reported so far: each step's record and each validation check."""

    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: dict[str, Any]) -> None:
        with self.lock:
            if "check" in record:
                self.checks.append(dict(record["check"]))
            else:
                self.history.append(dict(record))

    def snapshot(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(step records, checks), copies safe to read while training appends."""
        with self.lock:
            return list(self.history), list(self.checks)


@dataclass(frozen=True)
class DistilView:
    """A visitor's distillation: where it stands in the queue and what it has reported."""

    run: TrainingView
    history: list[dict[str, Any]]
    checks: list[dict[str, Any]]

    @property
    def result(self) -> DistilResult | None:
        return self.run.result if isinstance(self.run.result, DistilResult) else None


class Distillation:
    """`backend.distil`: check a request, say how long it takes, run it in the queue, report it, steer with it."""

    def __init__(self, context: Context, latent_labels: Callable[[str], dict[int, str]], steering: Steering) -> None:
        self.context = context
        self.engine = context.engine
        self.latent_labels = latent_labels
        self.steering = steering
        self.queue = TrainingQueue(max_queued=MAX_QUEUED)
        self.base = BASE
        """Every setting a visitor does not choose (tests make it tiny)."""
        self._live: OrderedDict[int, Live] = OrderedDict()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- before a run

    def layers(self) -> list[int]:
        """The layers a visitor may distil at: those an attached SAE reads."""
        return sorted({self.engine.sae(n).layer for n in self.engine.sae_names()})

    def default_layer(self) -> int | None:
        """The attached SAE layer nearest half depth (the library's default), None with no SAE attached."""
        layers, half = self.layers(), self.engine.n_layers // 2
        return min(layers, key=lambda x: (abs(x - half), x)) if layers else None

    def config(self, form: DistilControls) -> DistilConfig:
        """The library config of a request, or a SaifError saying which control is out of bounds."""
        if not form.instruction or form.instruction == CUSTOM:
            raise SaifError("pick a catalogue instruction: validation judges the vector with its checker")
        instr = self.context.catalogue.get(form.instruction)  # an unknown id names the valid ones
        if not instr.checker and self.base.n_val:
            raise SaifError(f"instruction {instr.id!r} has no checker, so validation cannot judge the vector")
        return self.budget(form.layer, form.basis, form.steps)

    def budget(self, layer: int, basis: str, steps: int) -> DistilConfig:
        """The config of a request's layer, basis and budget (what its time depends on), checked."""
        if basis not in BASES:
            raise SaifError(f"basis must be one of {', '.join(BASES)}, not {basis!r}")
        layers = self.layers()
        if layer not in layers:
            raise SaifError(
                f"layer {layer} has no attached SAE to read the vector; attached SAE layers: "
                f"{', '.join(map(str, layers)) or 'none (attach one in the SAEs tab)'}"
            )
        if not 1 <= steps <= MAX_STEPS:
            raise SaifError(f"the budget must be 1..{MAX_STEPS} steps here, not {steps}")
        # a short budget keeps half of it for the L1 phase of the sae basis (its refit must be shorter than all)
        refit = min(self.base.refit_steps, steps // 2)
        chosen = cast(Basis, basis)  # checked above
        return replace(self.base, layer=layer, basis=chosen, steps=steps, refit_steps=refit)

    def estimate(self, layer: int, basis: str, steps: int) -> float:
        """Seconds a request should take on the 2-core machine (an estimate from the rates above)."""
        return estimate_seconds(self.budget(layer, basis, steps), self.engine.n_layers)

    # ---------------------------------------------------------------- the run

    def start(self, session: str, form: DistilControls) -> DistilView:
        """Queue the request (checked first); the view says its place in the queue."""
        cfg = self.config(form)
        assert cfg.layer is not None
        live = Live(cfg.steps)
        label = f"{form.instruction} · {cfg.basis} · L{cfg.layer} · {cfg.steps} steps"
        view = self.queue.submit(
            session,
            label,
            lambda monitor: self._work(form.instruction, cfg, live, monitor),
            estimate_s=estimate_seconds(cfg, self.engine.n_layers),
        )
        with self._lock:
            self._live[view.id] = live
            while len(self._live) > MAX_REMEMBERED + MAX_QUEUED:
                self._live.popitem(last=False)
        return self._with_live(view)

    def status(self, session: str) -> DistilView | None:
        view = self.queue.status(session)
        return None if view is None else self._with_live(view)

    def stop(self, session: str) -> bool:
        """Stop the visitor's distillation at its next step; True if there was one."""
        return self.queue.stop(session)

    def result(self, session: str) -> DistilResult:
        """The visitor's latest finished distillation, or a SaifError saying there is none yet."""
        view = self.status(session)
        if view is None or view.result is None:
            raise SaifError("no distilled vector yet: start a distillation and wait for it to finish")
        return view.result

    def steer(self, session: str, choice: PromptChoice, decoding: Decoding) -> Steered:
        """Original / steered / prompted answers of `choice`'s content with the visitor's latest distilled vector;
        the prompt and the verdicts are those of the instruction it was distilled from."""
        result = self.result(session)
        instruction = str(result.summary["instruction"])
        return self.steering.steer_spec(replace(choice, instruction=instruction, custom_text=""), result.spec, decoding)

    def steer_stream(
        self, session: str, choice: PromptChoice, decoding: Decoding, stop: threading.Event | None = None
    ) -> Iterator[Partial | Steered]:
        """`steer` as it generates (`Steering.steer_stream`)."""
        result = self.result(session)
        told = replace(choice, instruction=str(result.summary["instruction"]), custom_text="")
        return self.steering.steer_spec_stream(told, result.spec, decoding, stop=stop)

    def _with_live(self, view: TrainingView) -> DistilView:
        with self._lock:
            live = self._live.get(view.id)
        history, checks = live.snapshot() if live else ([], [])
        return DistilView(view, history, checks)

    def _work(self, instruction: str, cfg: DistilConfig, live: Live, monitor: Any) -> DistilResult:
        prepare = "prompted answers and candidate latents" if cfg.basis == "sae" else "prompted answers"
        monitor.update(prepare, 0, cfg.steps)

        def progress(record: dict[str, Any]) -> None:
            live.add(record)
            if "check" not in record:
                monitor.update("training", int(record["step"]), cfg.steps)

        trained = distil(self.engine, instruction, cfg, progress=progress, stop=monitor.stopped)
        stopped = monitor.stopped()
        if stopped and not trained.history:
            raise Cancelled("stopped before the first step; nothing was kept")
        reading = None
        if not stopped:
            monitor.update("reading the vector through the SAE", len(trained.history), cfg.steps)
            found = read_distilled(self.engine, trained)
            reading = found.to_dict() if found else None
        return self._result(trained, reading, stopped)

    def _result(self, trained: Distilled, reading: dict[str, Any] | None, stopped: bool) -> DistilResult:
        chips: tuple[Chip, ...] = ()
        if trained.config.basis == "sae" and trained.sae is not None:
            labels = self.latent_labels(trained.sae)
            pairs = sorted(zip(trained.latents, trained.coefficients, strict=True), key=lambda p: (-abs(p[1]), p[0]))
            chips = tuple(Chip(i, c, labels.get(i, "")) for i, c in pairs)
        return DistilResult(trained.summary(), trained.spec(), trained.sae, chips, reading, stopped)


def estimate_seconds(cfg: DistilConfig, n_layers: int) -> float:
    """How long `cfg` should take on the 2-core machine: preparing, the steps (their cost grows with the blocks above
    the layer, the contents and the answer length), the validation checks and the reading."""
    assert cfg.layer is not None
    above = max(n_layers - 1 - cfg.layer, 0) / 14
    work = cfg.n_train / 16 * cfg.answer_tokens / 48
    step_s = STEP_S * (HEAD_SHARE + (1 - HEAD_SHARE) * above) * work
    checked = cfg.refit_steps if cfg.basis == "sae" else cfg.steps
    checks = (math.ceil(checked / cfg.eval_every) + (cfg.basis == "sae")) if cfg.n_val else 0
    check_s = CHECK_S * cfg.n_val / 8 * cfg.answer_tokens / 48
    return PREPARE_S[cfg.basis] * work + cfg.steps * step_s + checks * check_s + READING_S[cfg.basis]
