"""The backend's measuring part, the Steering tab's long jobs: a spec's compliance over α, drop-one and add-one
ablations, two instructions over a grid of weights (each on validation passages) and FAST's special-token grid, each
through the result cache and bounded so one request stays within minutes."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.discover import DiscoveryResult, pick_contents
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.inputs.contents import contents_version, load_contents
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.steering.ablation import Ablation, ablate
from saif_ui.saif.steering.evaluate import EvalConfig, Evaluation, evaluate
from saif_ui.saif.steering.joint_eval import JointConfig, evaluate_joint
from saif_ui.saif.steering.spec import SteeringSpec
from saif_ui.saif.steering.special import SpecialGrid, special_latents, special_token_grid
from saif_ui.service.context import Context, as_placement
from saif_ui.service.controls import PromptChoice, SteerControls
from saif_ui.service.steering import Steering

MAX_ABLATION_CONTENTS = 24
"""An ablation evaluates 2k variants: its contents are capped so one request stays bounded."""
MAX_SWEEP_CONTENTS = 24
"""Validation contents a joint sweep runs on: 24 × 8 cells is already ~200 answers, minutes on a CPU."""


class Sweeps:
    """Measurements of the Steering tab's spec (built by `steering`, the same latents, α and application)."""

    def __init__(self, context: Context, steering: Steering) -> None:
        self.context = context
        self.engine = context.engine
        self.results = context.results
        self.steering = steering

    def _key(self, instr: Instruction, sae: str, spec: SteeringSpec, cfg: EvalConfig, contents: Any) -> dict[str, Any]:
        """A validation measurement's result key: what it steers, judges and runs on."""
        return {
            "model": self.context.model_id,
            "instruction": instr.fingerprint,
            "checkers": CHECKERS_VERSION,
            **self.context.sae_key(sae),
            "contents": contents,
            "spec": spec.to_dict(),
            "cfg": asdict(cfg),
        }

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
        instr = self.context.instruction(choice)
        spec = self.steering.spec(discovery, sae, controls)
        cfg = EvalConfig(
            alphas=tuple(float(a) for a in alphas),
            n_contents=n_contents,
            placement=as_placement(choice.placement),
            decoding=Decoding(max_new_tokens=max_new_tokens),
            prompted_steered=prompted_steered,
        )
        settings = self._key(instr, sae, spec, cfg, contents_version())

        def run() -> dict[str, Any]:
            return dict(evaluate(self.engine, instr, spec, cfg=cfg, progress=progress).to_dict())

        return Evaluation.from_dict(self.results.get_or_compute("evaluate", settings, run)[0])

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
        joint = self.steering.joint_spec(choice.instruction, second, (1.0, 1.0), sae)
        cfg = JointConfig(
            weights=cells,
            placement=as_placement(choice.placement),
            decoding=Decoding(max_new_tokens=max_new_tokens),
        )
        cfg.cells(2)  # a grid too large fails before anything runs
        contents = pick_contents(load_contents("validation"), n_contents)
        settings = {
            "model": self.context.model_id,
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
        instr = self.context.instruction(choice)
        spec = self.steering.spec(discovery, sae, controls)
        contents = pick_contents(load_contents("validation"), max(2, min(int(n_contents), MAX_ABLATION_CONTENTS)))
        cfg = EvalConfig(
            n_contents=None, placement=as_placement(choice.placement), decoding=Decoding(max_new_tokens=max_new_tokens)
        )
        settings = self._key(instr, sae, spec, cfg, [c.id for c in contents])

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
        judge = instruction if instruction in self.context.catalogue else None
        latent = None if latent is None else self.context.latent_id(sae, latent)
        settings = {
            "model": self.context.model_id,
            **self.context.sae_key(sae),
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
