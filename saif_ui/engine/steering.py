"""The engine's steering primitive: one vector added to one layer's output at chosen positions (or one vector per
batch row, so that answers steered differently share one batched generate)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from saif_ui.engine.errors import SaifError

Positions = Literal["prompt", "generated", "all"]
POSITIONS: tuple[Positions, ...] = ("prompt", "generated", "all")


@dataclass(frozen=True)
class Steering:
    """Add `vector` to the output of decoder block `layer` (the residual stream after it).

    Positions, for a (left-padded) prompt of length P:
      - `prompt`: positions < P, the prompt only;
      - `generated`: positions >= P-1, i.e. every position that predicts a new token (the last prompt token and all
        generated ones) — steering only generated tokens would leave the first new token unsteered;
      - `all`: every position.
    Token-wise decay (Xie 2025): at generated step t (t = position - (P-1), 0 on the prompt) the vector is scaled by
    1 / (1 + decay * t) ** decay_power; decay = 0 keeps it constant.

    `vector` is [d_model] (every row of the batch), or [batch, d_model]: row i of the batch gets row i (a zero row
    leaves it unsteered). `rows` builds the latter from per-row steerings.
    """

    layer: int
    vector: torch.Tensor
    positions: Positions = "all"
    decay: float = 0.0
    decay_power: float = 1.0

    def __post_init__(self) -> None:
        if self.positions not in POSITIONS:
            raise SaifError(f"positions must be one of {POSITIONS}, not {self.positions!r}")
        if self.vector.ndim not in (1, 2):
            raise SaifError(f"a steering vector is [d_model] or [batch, d_model], got shape {tuple(self.vector.shape)}")
        if self.decay < 0 or self.decay_power < 0:
            raise SaifError("decay and decay_power must be >= 0")

    def key(self) -> str:
        """A digest of everything that changes the steering's effect (caches key on it)."""
        h = hashlib.sha256(self.vector.detach().float().cpu().contiguous().numpy().tobytes())
        h.update(f"{self.layer}|{self.positions}|{self.decay!r}|{self.decay_power!r}".encode())
        if self.vector.ndim == 2:  # the same numbers as one [d] vector or as rows steer differently
            h.update(f"|rows{tuple(self.vector.shape)}".encode())
        return h.hexdigest()[:24]

    def scales(self, positions: torch.Tensor, prompt_len: int) -> torch.Tensor:
        """Per-position multiplier (0 where this steering does not apply) for absolute `positions` [T]."""
        pos = positions.to(torch.float32)
        if self.positions == "prompt":
            on = pos < prompt_len
        elif self.positions == "generated":
            on = pos >= prompt_len - 1
        else:
            on = torch.ones_like(pos, dtype=torch.bool)
        t = (pos - (prompt_len - 1)).clamp(min=0)
        decay = (1.0 + self.decay * t) ** (-self.decay_power) if self.decay > 0 else torch.ones_like(pos)
        return on.to(torch.float32) * decay


def rows(per_row: Sequence[Sequence[Steering]]) -> list[Steering]:
    """One batch's steerings from each row's own list: row i is steered exactly as `per_row[i]` alone would steer it.

    Rows that all share one list keep it as is (1-D vectors). Otherwise the vectors of each (layer, positions, decay,
    decay_power) are stacked into a [batch, d_model] matrix, row i holding the sum of row i's vectors of that kind
    (zeros where it has none): the hook's scale is linear in the vector, so a sum steers as its parts do.
    """
    if not per_row:
        return []
    first = [s.key() for s in per_row[0]]
    if all([s.key() for s in r] == first for r in per_row[1:]):
        return list(per_row[0])
    kinds: dict[tuple[int, str, float, float], torch.Tensor] = {}
    for i, items in enumerate(per_row):
        for s in items:
            if s.vector.ndim != 1:
                raise SaifError("per-row steerings take 1-D vectors")
            kind = (s.layer, s.positions, s.decay, s.decay_power)
            if kind not in kinds:
                kinds[kind] = torch.zeros(len(per_row), s.vector.shape[0], dtype=torch.float32)
            kinds[kind][i] += s.vector.detach().to(device="cpu", dtype=torch.float32)
    return [
        Steering(layer, matrix, positions, decay, power)  # type: ignore[arg-type]
        for (layer, positions, decay, power), matrix in kinds.items()
    ]
