"""The engine's steering primitives, each acting on one layer's output at chosen positions:
- `Steering`: add a vector (or one vector per batch row, so that answers steered differently share one batched
  generate), or act on the residual's component along it: `orthogonal` decomposition (that component × `value`) and
  `cap` (that component capped at `value`), as Neuronpedia's steer defines them (apps/inference, `OrthogonalProjector`
  and `projection_cap_delta`: h → (I − P)h + c·Ph, and the projection onto the unit vector clamped at a maximum);
- `Clamp`: an SAE's chosen latents set to target activations, keeping the SAE's reconstruction error, so everything
  the SAE does not say passes unchanged: h → h + Σᵢ (targetᵢ − fᵢ(h)) · writeᵢ (the decoded difference).
Each is a `delta` added to the block's output (all of a layer's deltas computed from the same output, then summed),
so a position mask is one multiply for every method. State-dependent methods leave each row's first real token alone
(position 0 unpadded; after the left padding in a batch): the attention sink's norm is far outside what an SAE or a
cap was calibrated on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch

from saif_ui.engine.errors import SaifError

Positions = Literal["prompt", "generated", "all"]
POSITIONS: tuple[Positions, ...] = ("prompt", "generated", "all")
Method = Literal["add", "orthogonal", "cap"]
METHODS: tuple[Method, ...] = ("add", "orthogonal", "cap")


def _positional(positions: str, decay: float, decay_power: float) -> None:
    if positions not in POSITIONS:
        raise SaifError(f"positions must be one of {POSITIONS}, not {positions!r}")
    if decay < 0 or decay_power < 0:
        raise SaifError("decay and decay_power must be >= 0")


def _scales(positions: Positions, decay: float, power: float, at: torch.Tensor, prompt_len: int) -> torch.Tensor:
    pos = at.to(torch.float32)
    if positions == "prompt":
        on = pos < prompt_len
    elif positions == "generated":
        on = pos >= prompt_len - 1
    else:
        on = torch.ones_like(pos, dtype=torch.bool)
    t = (pos - (prompt_len - 1)).clamp(min=0)
    factor = (1.0 + decay * t) ** (-power) if decay > 0 else torch.ones_like(pos)
    return on.to(torch.float32) * factor


def _masked(delta: torch.Tensor, rows: tuple[bool, ...] | None) -> torch.Tensor:
    if rows is None:
        return delta
    if len(rows) != delta.shape[0]:
        raise SaifError(f"a row mask has {len(rows)} rows, the batch has {delta.shape[0]}")
    return delta * torch.tensor(rows, dtype=delta.dtype, device=delta.device)[:, None, None]


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
    method: Method = "add"
    value: float = 1.0
    """`orthogonal`: the factor the component along `vector` is multiplied by (1 leaves it, 0 removes it, 2 doubles
    it); `cap`: the largest projection onto the unit `vector` left. Unused by `add`."""
    rows: tuple[bool, ...] | None = None
    """The batch rows a state-dependent steering applies to (`rows()` sets it for a mixed batch); None: all."""

    def __post_init__(self) -> None:
        _positional(self.positions, self.decay, self.decay_power)
        if self.vector.ndim not in (1, 2):
            raise SaifError(f"a steering vector is [d_model] or [batch, d_model], got shape {tuple(self.vector.shape)}")
        if self.method not in METHODS:
            raise SaifError(f"method must be one of {METHODS}, not {self.method!r}")
        if self.method != "add" and (self.vector.ndim != 1 or float(self.vector.norm()) == 0.0):
            raise SaifError(f"{self.method} steering needs one non-zero [d_model] direction")

    def key(self) -> str:
        """A digest of everything that changes the steering's effect (caches key on it)."""
        h = hashlib.sha256(self.vector.detach().float().cpu().contiguous().numpy().tobytes())
        h.update(f"{self.layer}|{self.positions}|{self.decay!r}|{self.decay_power!r}".encode())
        if self.vector.ndim == 2:  # the same numbers as one [d] vector or as rows steer differently
            h.update(f"|rows{tuple(self.vector.shape)}".encode())
        if self.method != "add":  # additive keys stay as they were
            h.update(f"|{self.method}|{self.value!r}|{self.rows}".encode())
        return h.hexdigest()[:24]

    @property
    def additive(self) -> bool:
        return self.method == "add"

    def width(self, d_model: int) -> str | None:
        """Why this steering does not fit a model of width `d_model` (None when it does)."""
        if self.vector.shape[-1] != d_model or (self.vector.ndim != 1 and not self.additive):
            return f"steering vector has shape {tuple(self.vector.shape)}; the model's width is {d_model}"
        return None

    def scales(self, positions: torch.Tensor, prompt_len: int) -> torch.Tensor:
        """Per-position multiplier (0 where this steering does not apply) for absolute `positions` [T]."""
        return _scales(self.positions, self.decay, self.decay_power, positions, prompt_len)

    def delta(self, hidden: torch.Tensor, positions: torch.Tensor, prompt_len: int, sink: torch.Tensor) -> torch.Tensor:
        """What this steering adds to a block's output `hidden` [b, T, d] (fp32) at absolute `positions` [T]:
        [b or 1, T, d]. `sink` [b or 1, T] marks each row's first real token (a state-dependent method skips it)."""
        scale = self.scales(positions, prompt_len).to(hidden.device)
        vec = self.vector.to(device=hidden.device, dtype=torch.float32)
        if self.additive:
            vec = vec[None, :] if vec.ndim == 1 else vec
            if vec.shape[0] not in (1, hidden.shape[0]):
                raise SaifError(f"per-row steering has {vec.shape[0]} rows, the batch has {hidden.shape[0]}")
            return scale[None, :, None] * vec[:, None, :]
        unit = vec / vec.norm()
        projection = hidden @ unit  # [b, T]
        if self.method == "orthogonal":
            change = (self.value - 1.0) * projection
        else:
            change = projection.clamp(max=self.value) - projection
        keep = scale[None, :] * (~sink).to(scale)  # the attention sink is left alone
        return _masked(keep[..., None] * change[..., None] * unit, self.rows)


@dataclass(frozen=True)
class Clamp:
    """Set latents of an SAE at `layer` to `targets`, keeping its reconstruction error (see the module docstring).

    `encode` maps residuals [..., d] to the chosen latents' activations [..., k] (the SAE's own encoder, so a TopK or
    JumpReLU SAE decides as it does when it reads); `writes` [k, d] is what each writes per unit of activation; `tag`
    names the SAE's weights in `key`.
    """

    layer: int
    encode: Callable[[torch.Tensor], torch.Tensor]
    writes: torch.Tensor
    targets: torch.Tensor
    tag: str
    positions: Positions = "all"
    decay: float = 0.0
    decay_power: float = 1.0
    rows: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        _positional(self.positions, self.decay, self.decay_power)
        if self.writes.ndim != 2 or self.targets.shape != (self.writes.shape[0],):
            raise SaifError("a clamp needs writes [k, d_model] and one target per latent")

    additive = False

    def key(self) -> str:
        h = hashlib.sha256(self.writes.detach().float().cpu().contiguous().numpy().tobytes())
        h.update(self.targets.detach().float().cpu().contiguous().numpy().tobytes())
        h.update(
            f"clamp|{self.tag}|{self.layer}|{self.positions}|{self.decay!r}|{self.decay_power!r}|{self.rows}".encode()
        )
        return h.hexdigest()[:24]

    def width(self, d_model: int) -> str | None:
        return None if self.writes.shape[1] == d_model else f"clamp writes have width {self.writes.shape[1]}"

    def scales(self, positions: torch.Tensor, prompt_len: int) -> torch.Tensor:
        return _scales(self.positions, self.decay, self.decay_power, positions, prompt_len)

    def delta(self, hidden: torch.Tensor, positions: torch.Tensor, prompt_len: int, sink: torch.Tensor) -> torch.Tensor:
        scale = self.scales(positions, prompt_len).to(hidden.device)
        keep = scale[None, :] * (~sink).to(scale)  # the SAE never saw the attention sink
        acts = self.encode(hidden).to(device=hidden.device, dtype=torch.float32)  # [b, T, k]
        change = self.targets.to(device=hidden.device, dtype=torch.float32) - acts
        writes = self.writes.to(device=hidden.device, dtype=torch.float32)
        return _masked(keep[..., None] * (change @ writes), self.rows)


Intervention = Steering | Clamp
"""Anything the steering hook applies: each has `layer`, `key()`, `width(d_model)` and `delta(...)`."""


def rows(per_row: Sequence[Sequence[Intervention]]) -> list[Intervention]:
    """One batch's steerings from each row's own list: row i is steered exactly as `per_row[i]` alone would steer it.

    Rows that all share one list keep it as is (1-D vectors). Otherwise the additive vectors of each (layer,
    positions, decay, decay_power) are stacked into a [batch, d_model] matrix, row i holding the sum of row i's
    vectors of that kind (zeros where it has none): the hook's scale is linear in the vector, so a sum steers as its
    parts do. A state-dependent steering is not linear: it is kept once, with the mask of the rows that have it.
    """
    if not per_row:
        return []
    first = [s.key() for s in per_row[0]]
    if all([s.key() for s in r] == first for r in per_row[1:]):
        return list(per_row[0])
    kinds: dict[tuple[int, str, float, float], torch.Tensor] = {}
    others: dict[str, tuple[Intervention, list[bool]]] = {}
    for i, items in enumerate(per_row):
        for s in items:
            if not isinstance(s, Steering) or not s.additive:
                entry = others.setdefault(s.key(), (s, [False] * len(per_row)))
                entry[1][i] = True
                continue
            if s.vector.ndim != 1:
                raise SaifError("per-row steerings take 1-D vectors")
            kind = (s.layer, s.positions, s.decay, s.decay_power)
            if kind not in kinds:
                kinds[kind] = torch.zeros(len(per_row), s.vector.shape[0], dtype=torch.float32)
            kinds[kind][i] += s.vector.detach().to(device="cpu", dtype=torch.float32)
    added: list[Intervention] = [
        Steering(layer, matrix, positions, decay, power)  # type: ignore[arg-type]
        for (layer, positions, decay, power), matrix in kinds.items()
    ]
    return added + [replace(s, rows=tuple(mask)) for s, mask in others.values()]
