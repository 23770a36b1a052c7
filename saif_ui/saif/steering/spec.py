"""SAIF Stage 2: a steering specification (latents and raw vectors, strengths, α) that round-trips through JSON.

A spec is data, not hooks: `SteeringSpec.steerings(engine)` turns it into the engine's `Steering` primitives, which
the engine attaches only for the duration of one generate call.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import torch

from saif_ui.engine import Engine, SAELoadError, Steering
from saif_ui.engine.errors import SaifError
from saif_ui.engine.steering import POSITIONS, Positions
from saif_ui.saif.discovery.discover import DiscoveryResult

Scale = Literal["mean_act", "unit"]
SCALES: tuple[Scale, ...] = ("mean_act", "unit")
SPEC_VERSION = 1


class SpecError(SaifError):
    """A steering spec that cannot be read or applied; the message says which field and why."""


@dataclass(frozen=True)
class SteerLatent:
    """One SAE latent to add: `strength` × its base vector (see `SteeringSpec.scale`).

    `mean_act` is the latent's mean activation on the positives of the discovery run it came from; the spec carries
    it so a saved spec steers the same way without rerunning discovery.
    """

    sae: str
    layer: int
    latent: int
    strength: float = 1.0
    mean_act: float | None = None


@dataclass(frozen=True)
class SteerVector:
    """A raw residual-stream vector (e.g. a difference of means) added at `layer`, × `strength`."""

    layer: int
    vector: tuple[float, ...]
    strength: float = 1.0
    label: str = ""


@dataclass(frozen=True)
class SteeringSpec:
    """Everything that decides one steered generation.

    The vector added at a layer is `alpha * Σ strength_i * base_i` over the entries at that layer, where `base_i` is
      - `mean_act` (default, SAIF-like): what latent i writes into the residual stream at its mean activation on
        the positives, i.e. mean_act × its decoder write vector — so α = 1 re-creates the latents' typical presence
        when the instruction is given, and α is comparable across latents and SAEs;
      - `unit`: its unit decoder direction, so α is in residual-norm units;
    and raw vectors are added as given (× strength × α).
    `positions` and the token-wise decay α_t = α / (1 + decay·t)^decay_power (Xie 2025) are those of `Steering`.
    """

    latents: tuple[SteerLatent, ...] = ()
    vectors: tuple[SteerVector, ...] = ()
    alpha: float = 1.0
    scale: Scale = "mean_act"
    positions: Positions = "all"
    decay: float = 0.0
    decay_power: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    """Provenance (instruction, discovery settings); not used to steer."""

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise SpecError(f"scale must be one of {', '.join(SCALES)}, not {self.scale!r}")
        if self.positions not in POSITIONS:
            raise SpecError(f"positions must be one of {', '.join(POSITIONS)}, not {self.positions!r}")
        if not math.isfinite(self.alpha):
            raise SpecError("alpha must be a finite number")
        if self.decay < 0 or self.decay_power < 0:
            raise SpecError("decay and decay_power must be >= 0")
        for e in self.latents:
            if e.latent < 0:
                raise SpecError(f"latent ids are >= 0, got {e.latent}")
            if not math.isfinite(e.strength):
                raise SpecError(f"latent {e.latent}: strength must be finite")
            if self.scale == "mean_act" and e.mean_act is None:
                raise SpecError(f"latent {e.latent} has no mean_act; use scale 'unit' or give its mean activation")

    @property
    def empty(self) -> bool:
        return self.alpha == 0 or (not self.latents and not self.vectors)

    def with_alpha(self, alpha: float) -> SteeringSpec:
        return replace(self, alpha=float(alpha))

    def with_strengths(self, strengths: dict[int, float]) -> SteeringSpec:
        """The same spec with some latents' strengths changed (keyed by latent id); 0 drops a latent's effect."""
        return replace(
            self, latents=tuple(replace(e, strength=strengths.get(e.latent, e.strength)) for e in self.latents)
        )

    def without(self, latent: int) -> SteeringSpec:
        """The spec minus one latent (drop-one ablation)."""
        return replace(self, latents=tuple(e for e in self.latents if e.latent != latent))

    # ------------------------------------------------------------ apply

    def steerings(self, engine: Engine) -> list[Steering]:
        """The engine primitives for this spec, α applied: one summed vector (fp32) per layer (empty when α = 0 or
        nothing is selected). Raises `SpecError` for an unknown SAE or a bad vector."""
        return [
            Steering(layer, vec, self.positions, decay=self.decay, decay_power=self.decay_power)
            for layer, vec in self.layer_vectors(engine).items()
        ]

    def layer_vectors(self, engine: Engine) -> dict[int, torch.Tensor]:
        """The summed vector added at each layer, α applied, by layer (empty when α = 0 or nothing is selected)."""
        if self.empty:
            return {}
        out: dict[int, torch.Tensor] = defaultdict(lambda: torch.zeros(engine.d_model))
        for e in self.latents:
            try:
                sae = engine.sae(e.sae)
            except SAELoadError as err:
                raise SpecError(f"spec names an SAE that is not attached: {err}") from err
            if sae.layer != e.layer:
                raise SpecError(f"spec says {e.sae!r} reads layer {e.layer}, but it reads layer {sae.layer}")
            write = sae.write_vector(e.latent).cpu()
            unit = write / write.norm().clamp(min=1e-12)
            base = unit if self.scale == "unit" else write * float(e.mean_act or 0.0)
            out[e.layer] = out[e.layer] + e.strength * base
        for v in self.vectors:
            if len(v.vector) != engine.d_model:
                raise SpecError(
                    f"vector {v.label or ''} has size {len(v.vector)}, the model's width is {engine.d_model}"
                )
            out[v.layer] = out[v.layer] + v.strength * torch.tensor(v.vector, dtype=torch.float32)
        return {layer: self.alpha * vec for layer, vec in sorted(out.items())}

    def norm(self, engine: Engine) -> float:
        """The L2 norm of everything this spec adds (all layers together), α applied: what norm-matched controls
        match."""
        return math.sqrt(sum(float((v.double() ** 2).sum()) for v in self.layer_vectors(engine).values()))

    # ------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["vectors"] = [{**asdict(v), "vector": list(v.vector)} for v in self.vectors]
        return {"version": SPEC_VERSION, **d}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any) -> SteeringSpec:
        if not isinstance(data, dict):
            raise SpecError("a steering spec is a JSON object")
        version = data.get("version", SPEC_VERSION)
        if version != SPEC_VERSION:
            raise SpecError(f"steering spec version {version} is not supported (this build reads {SPEC_VERSION})")
        known = {"latents", "vectors", "alpha", "scale", "positions", "decay", "decay_power", "meta"}
        unknown = set(data) - known - {"version"}
        if unknown:
            raise SpecError(f"unknown steering spec fields: {', '.join(sorted(unknown))}")
        try:
            latents = tuple(SteerLatent(**_fields(e, SteerLatent, "latents")) for e in data.get("latents", []))
            vectors = tuple(
                SteerVector(**{**_fields(v, SteerVector, "vectors"), "vector": tuple(float(x) for x in v["vector"])})
                for v in data.get("vectors", [])
            )
            rest = {k: data[k] for k in known - {"latents", "vectors"} if k in data}
            return cls(latents=latents, vectors=vectors, **rest)
        except (TypeError, KeyError) as err:
            raise SpecError(f"malformed steering spec: {err}") from err

    @classmethod
    def from_json(cls, text: str) -> SteeringSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(f"steering spec is not valid JSON: {err}") from err
        return cls.from_dict(data)


def _fields(entry: Any, kind: type, where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise SpecError(f"each item of '{where}' is a JSON object")
    allowed = set(kind.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = set(entry) - allowed
    if unknown:
        raise SpecError(f"unknown fields in '{where}': {', '.join(sorted(unknown))}")
    return dict(entry)


def spec_from_discovery(
    result: DiscoveryResult,
    k: int = 5,
    alpha: float = 1.0,
    *,
    scale: Scale = "mean_act",
    positions: Positions = "all",
    decay: float = 0.0,
    decay_power: float = 1.0,
) -> SteeringSpec:
    """A spec of a `DiscoveryResult`'s top-`k` unflagged latents, each at strength 1 with its mean activation on the
    positives. Hand-picked latents (flagged ones included): `steering.build.spec_for_latents`."""
    if k < 1:
        raise SpecError("k must be >= 1")
    chosen = list(result.ids[:k])
    if not chosen:
        raise SpecError(f"discovery found no latent for {result.instruction!r} at {result.sae}")
    entries = tuple(
        SteerLatent(sae=result.sae, layer=result.layer, latent=i, mean_act=result.mean_act(i)) for i in chosen
    )
    meta = {
        "instruction": result.instruction,
        "placement": result.config.placement,
        "positions_scored": result.config.positions,
        "score": result.config.score,
        "discovery_key": result.cache_key,
    }
    return SteeringSpec(
        latents=entries,
        alpha=alpha,
        scale=scale,
        positions=positions,
        decay=decay,
        decay_power=decay_power,
        meta=meta,
    )
