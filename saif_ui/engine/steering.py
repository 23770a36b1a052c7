"""The engine's steering primitive: one vector added to one layer's output at chosen positions."""

from __future__ import annotations

import hashlib
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
    """

    layer: int
    vector: torch.Tensor
    positions: Positions = "all"
    decay: float = 0.0
    decay_power: float = 1.0

    def __post_init__(self) -> None:
        if self.positions not in POSITIONS:
            raise SaifError(f"positions must be one of {POSITIONS}, not {self.positions!r}")
        if self.vector.ndim != 1:
            raise SaifError(f"a steering vector is 1-D [d_model], got shape {tuple(self.vector.shape)}")
        if self.decay < 0 or self.decay_power < 0:
            raise SaifError("decay and decay_power must be >= 0")

    def key(self) -> str:
        """A digest of everything that changes the steering's effect (caches key on it)."""
        h = hashlib.sha256(self.vector.detach().float().cpu().contiguous().numpy().tobytes())
        h.update(f"{self.layer}|{self.positions}|{self.decay!r}|{self.decay_power!r}".encode())
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
