"""The dashboard's controls as small typed values, each parsed once from the components' raw values.

Parsing here only turns component values into types (ids, floats, a strength per latent); what a value may be (α
finite, positions known, latents in range) is checked once, by the library object it becomes (`SteeringSpec`,
`DiscoveryConfig`, `Decoding`), whose message the UI shows as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class ControlError(ValueError):
    """A control's value that cannot be read (not a number, too many latents ...): the message says which and why."""


MAX_LATENTS = 64
"""Latents one steer may combine: far more than any study uses (SAIF steers with a handful), small enough that a
request cannot make a spec of the whole dictionary."""


def parse_latent_ids(values: Any) -> list[int]:
    """Latent ids from a dropdown value, a list, or text like "436, 3798 2070", order kept; rejects anything that is
    not a non-negative integer, and an id given twice (which of its strengths would count?), with a message naming
    it. At most `MAX_LATENTS` ids are read: a longer list is refused before it is parsed."""
    if values is None:
        return []
    if isinstance(values, Mapping | bytes):
        raise ControlError("latent ids are a list of non-negative integers, e.g. [436, 3798]")
    items = values.replace(",", " ").split() if isinstance(values, str) else list(values)
    if len(items) > MAX_LATENTS:
        raise ControlError(f"at most {MAX_LATENTS} latents at once, got {len(items)}")
    out: list[int] = []
    for item in items:
        text = str(item).strip().lstrip("#")
        if not text:
            continue
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            raise ControlError(f"latent ids are non-negative integers; {str(item)[:20]!r} is not one")
        if int(text) in out:
            raise ControlError(f"latent {int(text)} is listed twice: give each latent once")
        out.append(int(text))
    return out


def parse_alphas(text: str, limit: int = 24) -> list[float]:
    """α values from text like "0, 1, 2.5 4": sorted, duplicates dropped; at most `limit`, each finite."""
    items = [t for t in (text or "").replace(",", " ").split() if t]
    if not items:
        raise ControlError("give at least one α value, e.g. 0, 1, 2, 4")
    try:
        values = [float(t) for t in items]
    except ValueError as err:
        raise ControlError(f"α values must be numbers: {err}") from err
    if not all(math.isfinite(v) for v in values):
        raise ControlError("α values must be finite")
    if len(values) > limit:
        raise ControlError(f"at most {limit} α values per sweep")
    return sorted(dict.fromkeys(values))


def parse_strengths(values: Any, n: int) -> tuple[float, ...]:
    """One strength per chosen latent from a list (the API's `strengths`), padded with 1.0; None or [] is all 1."""
    if values is None or values == "":
        return (1.0,) * n
    if isinstance(values, Mapping | str | bytes) or not isinstance(values, Sequence):
        raise ControlError("strengths are a list of numbers, one per latent, e.g. [1, 0.5]")
    if len(values) > n:
        raise ControlError(f"{len(values)} strengths for {n} latents: give at most one per latent")
    try:
        given = [1.0 if v is None else float(v) for v in values]
    except (TypeError, ValueError):
        raise ControlError(f"strengths must be numbers, got {list(values)!r}") from None
    return (*given, *(1.0,) * (n - len(given)))


@dataclass(frozen=True)
class PromptChoice:
    """What a prompt pair depends on: the instruction (a catalogue id, or `custom` with wordings one per line and an
    optional checker), the content, where the instruction goes, and the default system prompt."""

    instruction: str | None
    custom_text: str = ""
    checker: str | None = None
    content: str = ""
    placement: str = "post"
    system_prompt: bool = True


@dataclass(frozen=True)
class SteerControls:
    """The Steering tab's spec controls: any number of latents, a strength each, a global α and how to apply them."""

    latents: tuple[int, ...]
    strengths: tuple[float, ...]
    alpha: float
    positions: str = "all"
    scale: str = "mean_act"
    decay: float = 0.0
    decay_power: float = 1.0
    method: str = "add"
    """`SteeringSpec.method`: add, orthogonal, cap or clamp (checked by the spec)."""

    @classmethod
    def parse(
        cls,
        latents: Any,
        strengths: Any,
        alpha: Any,
        positions: str = "all",
        scale: str = "mean_act",
        decay: Any = 0.0,
        decay_power: Any = 1.0,
        method: str | None = "add",
    ) -> SteerControls:
        ids = parse_latent_ids(latents)
        if len(ids) > MAX_LATENTS:
            raise ControlError(f"at most {MAX_LATENTS} latents at once, got {len(ids)}")
        if alpha is None:
            raise ControlError("α must be a number")
        return cls(
            latents=tuple(ids),
            strengths=parse_strengths(strengths, len(ids)),
            alpha=float(alpha),
            positions=positions,
            scale=scale,
            decay=float(decay or 0.0),
            decay_power=float(1.0 if decay_power is None else decay_power),
            method=method or "add",
        )

    def strength_of(self) -> dict[int, float]:
        return dict(zip(self.latents, self.strengths, strict=True))


def whole(value: Any, what: str) -> int:
    """A whole number from a number box (gradio gives floats), or a ControlError naming the box."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ControlError(f"{what} must be a whole number") from None
    if not math.isfinite(number) or number != int(number):
        raise ControlError(f"{what} must be a whole number, not {value!r}")
    return int(number)


@dataclass(frozen=True)
class TrainControls:
    """The Train panel's form: where and how to train, and how much. `sparsity` is k for TopK, the target L0 for
    JumpReLU and the L1 coefficient for Standard."""

    layer: int
    method: str
    arch: str
    d_sae: int
    sparsity: float
    tokens: int
    seed: int

    @classmethod
    def parse(
        cls, layer: Any, method: Any, arch: Any, d_sae: Any, sparsity: Any, tokens: Any, seed: Any
    ) -> TrainControls:
        try:
            level = float(sparsity)
        except (TypeError, ValueError):
            raise ControlError("the sparsity (k, target L0 or L1 coefficient) must be a number") from None
        if not math.isfinite(level) or level <= 0:
            raise ControlError("the sparsity (k, target L0 or L1 coefficient) must be a positive number")
        return cls(
            layer=whole(layer, "the layer"),
            method=str(method or ""),
            arch=str(arch or ""),
            d_sae=whole(d_sae, "d_sae"),
            sparsity=level,
            tokens=whole(tokens, "the token budget"),
            seed=whole(seed, "the seed"),
        )
