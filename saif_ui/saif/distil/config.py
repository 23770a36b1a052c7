"""Settings of a prompt distillation (torch-free, so `distil --help` builds its flags from them quickly).

Each field's docstring is its `distil` flag's help (`cli.fields`); each default lives here once. The defaults are
one budget, at most 10 minutes for one instruction at one layer on the 2-core CPU: `python -m saif_ui distil
--instruction french` took 214 s (sae) and 212 s (free) at layer 15 on a quiet machine on 2026-12-04, model load
included (`service.distil` keeps the per-phase rates; `python -m bench` measures a step against a plain forward and
backward, P11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from saif_ui.engine.errors import SaifError

Basis = Literal["sae", "free"]
BASES: tuple[Basis, ...] = ("sae", "free")
Objective = Literal["kl", "ce"]
Positions = Literal["all", "generated"]
OBJECTIVES: tuple[Objective, ...] = ("kl", "ce")

DISTIL_VERSION = 1
"""Bump when what a distillation computes changes meaning (data, loss, parametrisation, selection)."""


@dataclass(frozen=True)
class DistilConfig:
    """How one steering vector is distilled from the prompted model (`saif.distil.train.distil`)."""

    layer: int | None = None
    """Decoder block whose output the vector is added to; None: the attached SAE's layer nearest half depth."""
    basis: Basis = "sae"
    """`sae`: a sparse combination of the SAE's unit decoder directions (interpretable); `free`: any d_model vector
    (the ceiling of one vector at that layer)."""
    objective: Objective = "kl"
    """`kl`: match the prompted model's next-token distributions (prompt distillation); `ce`: cross-entropy on the
    prompted answers' tokens only (the objective of ReFT-r1), the control that separates objective from basis."""
    n_train: int = 16
    """Discovery contents the vector is trained on (statements and paragraphs alternating)."""
    answer_tokens: int = 48
    """Tokens of each prompted answer the student is teacher-forced along (the evaluations' answer length)."""
    teacher_top_k: int = 32
    """Teacher log-probabilities kept per position; the rest of the vocabulary is one tail bucket of the KL."""
    steps: int = 60
    """Optimiser steps (full batch) at most."""
    lr: float = 0.1
    """Adam learning rate of a free vector's entries (a `sae` basis's coefficients get lr·√(d_model / latents): the
    same pace of the vector's norm). 0.05 left French still improving after 60 steps at L15."""
    max_norm: float = 40.0
    """The vector's L2 norm is kept at most this (the residual at a middle layer of SmolLM2 has norm ~ 30-60)."""
    positions: Positions = "all"
    """Where the vector is added, in training and at inference alike: `all` positions, or `generated` only (the last
    prompt token and the answer), which leaves the content's reading untouched."""
    candidates: int = 64
    """`sae` basis: candidate latents, half SAIF's top-ranked, half those whose activation the instruction raises
    most along the prompted answers."""
    n_discovery: int = 48
    """`sae` basis: discovery contents SAIF's ranking of the candidates comes from (the recipes' discovery)."""
    keep: int = 16
    """`sae` basis: latents kept after the L1 phase (largest |coefficient| × direction), then refit without L1."""
    l1: float = 0.0001
    """`sae` basis: L1 weight on the coefficients (per unit of coefficient, against a KL in nats) before pruning.
    0.002 held the coefficients near zero on French at L15 (KL 0.41 → 0.28 where the free vector reached 0.08)."""
    refit_steps: int = 30
    """`sae` basis: steps refitting the kept latents' coefficients, within `steps` (the L1 phase gets the rest)."""
    eval_every: int = 15
    """Steps between validation checks (the vector steered on validation contents, judged like every study)."""
    n_val: int = 8
    """Validation contents of each check; the best check's vector is kept (early stopping on verdicts)."""
    patience: int = 2
    """Checks without a better verdict before training stops."""
    batch_size: int = 8
    """Sequences per forward/backward (the step sums their gradients: the batch is always all of `n_train`)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise SaifError(f"basis must be one of {', '.join(BASES)}, not {self.basis!r}")
        if self.objective not in OBJECTIVES:
            raise SaifError(f"objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        if self.positions not in ("all", "generated"):
            raise SaifError(f"positions must be all or generated, not {self.positions!r}")
        if self.layer is not None and self.layer < 0:
            raise SaifError(f"layer must be >= 0, not {self.layer}")
        if not (1 <= self.n_train <= 256 and 1 <= self.answer_tokens <= 256 and 1 <= self.teacher_top_k <= 1024):
            raise SaifError("n_train and answer_tokens must be in 1..256 and teacher_top_k in 1..1024")
        if not (1 <= self.steps <= 2000 and self.lr > 0 and self.max_norm > 0):
            raise SaifError("steps must be in 1..2000, lr and max_norm > 0")
        if self.basis == "sae" and not (
            1 <= self.keep <= self.candidates <= 1024 and 0 <= self.refit_steps < self.steps
        ):
            raise SaifError("the sae basis needs 1 <= keep <= candidates <= 1024 and 0 <= refit_steps < steps")
        if self.l1 < 0 or self.eval_every < 1 or self.n_val < 0 or self.patience < 1 or self.batch_size < 1:
            raise SaifError("l1 >= 0, eval_every >= 1, n_val >= 0, patience >= 1 and batch_size >= 1 are required")
