"""SAIF Stage 2: a steering specification (latents and raw vectors, strengths, α) that round-trips through JSON.

A spec is data, not hooks: `SteeringSpec.steerings(engine)` turns it into the engine's `Steering` primitives, which
the engine attaches only for the duration of one generate call.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import MISSING, asdict, dataclass, field, replace
from typing import Any, Literal

import torch

from saif_ui.engine import Clamp, Engine, LoadedSAE, SAELoadError, Steering, jsonsafe
from saif_ui.engine.errors import SaifError
from saif_ui.engine.keys import sae_key
from saif_ui.engine.steering import POSITIONS, Intervention, Positions
from saif_ui.saif.discovery.discover import DiscoveryResult

Scale = Literal["mean_act", "unit"]
SCALES: tuple[Scale, ...] = ("mean_act", "unit")
Method = Literal["add", "orthogonal", "cap", "clamp"]
METHODS: tuple[Method, ...] = ("add", "orthogonal", "cap", "clamp")
"""How a spec acts (see `SteeringSpec`); `add` is SAIF's and every study's."""
SPEC_VERSION = 1
MAX_ABS_ALPHA = 1000.0
"""|α| a spec may have: five times the largest α any study uses (FAST's special-token grid goes to 200); beyond it
the residual stream is swamped and the answer is noise, so a larger value is a typo, not an experiment."""
MAX_ABS_STRENGTH = 100.0
"""|strength| of one latent or vector (strengths are relative weights, 1 by default)."""
MAX_SPEC_ITEMS = 256
"""Latents plus raw vectors in one spec: far more than any recipe (SAIF steers with a handful), small enough that a
spec cannot name the whole dictionary."""


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

    `method` says what is done with each entry instead of adding (the engine's `Steering` and `Clamp`):
      - `orthogonal` (Neuronpedia's orthogonal decomposition): the residual's component along the entry's direction
        is multiplied by α × strength (1 leaves it, 0 removes it);
      - `cap` (Neuronpedia's projection cap): that component is capped at α × strength × the entry's base norm (what
        `add` would write along it: mean_act × |write| for `mean_act`, 1 for `unit`, |v| for a raw vector);
      - `clamp`: each latent's activation (its SAE's own encoder) is set to α × strength × (mean_act for `mean_act`,
        1 for `unit`), the SAE's reconstruction error kept; latents only.
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
    method: Method = "add"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpecError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.method == "clamp" and self.vectors:
            raise SpecError("clamp sets SAE latents: a raw vector cannot be clamped (use add, orthogonal or cap)")
        if self.scale not in SCALES:
            raise SpecError(f"scale must be one of {', '.join(SCALES)}, not {self.scale!r}")
        if self.positions not in POSITIONS:
            raise SpecError(f"positions must be one of {', '.join(POSITIONS)}, not {self.positions!r}")
        if not (math.isfinite(self.alpha) and abs(self.alpha) <= MAX_ABS_ALPHA):
            raise SpecError(f"alpha must be a finite number within ±{MAX_ABS_ALPHA:g}, not {self.alpha!r}")
        if not (0 <= self.decay < math.inf and 0 <= self.decay_power <= 16):
            raise SpecError("decay must be a finite number >= 0 and decay_power within 0..16")
        n_items = len(self.latents) + len(self.vectors)
        if n_items > MAX_SPEC_ITEMS:
            raise SpecError(f"a spec holds at most {MAX_SPEC_ITEMS} latents and vectors, not {n_items}")
        seen: set[tuple[str, int]] = set()
        for e in self.latents:
            if e.latent < 0:
                raise SpecError(f"latent ids are >= 0, got {e.latent}")
            if (e.sae, e.latent) in seen:
                raise SpecError(f"latent {e.latent} of {e.sae} is listed twice: give it once, with one strength")
            seen.add((e.sae, e.latent))
            if not (math.isfinite(e.strength) and abs(e.strength) <= MAX_ABS_STRENGTH):
                raise SpecError(f"latent {e.latent}: strength must be finite and within ±{MAX_ABS_STRENGTH:g}")
            if e.mean_act is not None and not math.isfinite(e.mean_act):
                raise SpecError(f"latent {e.latent}: mean_act must be finite")
            if self.scale == "mean_act" and e.mean_act is None:
                raise SpecError(f"latent {e.latent} has no mean_act; use scale 'unit' or give its mean activation")
        for v in self.vectors:
            if not (math.isfinite(v.strength) and abs(v.strength) <= MAX_ABS_STRENGTH):
                raise SpecError(
                    f"vector {v.label or v.layer}: strength must be finite and within ±{MAX_ABS_STRENGTH:g}"
                )
            if not all(math.isfinite(x) for x in v.vector):
                raise SpecError(f"vector {v.label or v.layer} holds a non-finite value")

    @property
    def empty(self) -> bool:
        """Nothing to do: nothing selected, or an additive spec at α = 0 (at α = 0 the other methods remove or cap
        the component, or clamp to 0: an ablation, not nothing)."""
        return (self.method == "add" and self.alpha == 0) or (not self.latents and not self.vectors)

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

    def steerings(self, engine: Engine) -> list[Intervention]:
        """The engine primitives for this spec, α applied: for `add`, one summed vector (fp32) per layer; otherwise
        one per entry (`orthogonal`, `cap`) or one clamp per SAE (empty when nothing is selected, or α = 0 for
        `add`). Raises `SpecError` for an unknown SAE or a bad vector."""
        where: dict[str, Any] = {"positions": self.positions, "decay": self.decay, "decay_power": self.decay_power}
        if self.method == "add":
            return [Steering(layer, vec, **where) for layer, vec in self.layer_vectors(engine).items()]
        if not self.latents and not self.vectors:
            return []
        if self.method == "clamp":
            return [self._clamp(engine, name, where) for name in dict.fromkeys(e.sae for e in self.latents)]
        out: list[Intervention] = []
        for e in self.latents:
            write = self._sae(engine, e).write_vector(e.latent).cpu()
            base = 1.0 if self.scale == "unit" else float(e.mean_act or 0.0) * float(write.norm())
            out.append(self._projection(e.layer, write, e.strength, base, where))
        for v in self.vectors:
            vec = self._vector(engine, v)
            out.append(self._projection(v.layer, vec, v.strength, float(vec.norm()), where))
        return out

    def _projection(
        self, layer: int, direction: torch.Tensor, strength: float, base: float, where: dict[str, Any]
    ) -> Steering:
        value = self.alpha * strength * (1.0 if self.method == "orthogonal" else base)
        try:
            return Steering(layer, direction, method=self.method, value=value, **where)  # type: ignore[arg-type]
        except SaifError as err:
            raise SpecError(str(err)) from None

    def _clamp(self, engine: Engine, name: str, where: dict[str, Any]) -> Clamp:
        entries = [e for e in self.latents if e.sae == name]
        sae = self._sae(engine, entries[0])
        chosen = torch.tensor([e.latent for e in entries])
        targets = torch.tensor(
            [self.alpha * e.strength * (1.0 if self.scale == "unit" else float(e.mean_act or 0.0)) for e in entries]
        )
        writes = sae.write_vectors()[chosen].cpu()

        def encode(hidden: torch.Tensor) -> torch.Tensor:
            return sae.encode(hidden)[..., chosen.to(hidden.device)]

        return Clamp(entries[0].layer, encode, writes, targets, tag=sae_key(engine, name)["sae_weights"], **where)

    @staticmethod
    def _sae(engine: Engine, e: SteerLatent) -> LoadedSAE:
        try:
            sae = engine.sae(e.sae)
        except SAELoadError as err:
            raise SpecError(f"spec names an SAE that is not attached: {err}") from err
        if sae.layer != e.layer:
            raise SpecError(f"spec says {e.sae!r} reads layer {e.layer}, but it reads layer {sae.layer}")
        return sae

    @staticmethod
    def _vector(engine: Engine, v: SteerVector) -> torch.Tensor:
        if len(v.vector) != engine.d_model:
            raise SpecError(f"vector {v.label or ''} has size {len(v.vector)}, the model's width is {engine.d_model}")
        return torch.tensor(v.vector, dtype=torch.float32)

    def layer_vectors(self, engine: Engine) -> dict[int, torch.Tensor]:
        """The summed vector `add` adds at each layer, α applied, by layer (empty when α = 0 or nothing is selected);
        for another method, the vector the same spec would add (what norm-matched controls match)."""
        if self.empty:
            return {}
        out: dict[int, torch.Tensor] = defaultdict(lambda: torch.zeros(engine.d_model))
        for e in self.latents:
            write = self._sae(engine, e).write_vector(e.latent).cpu()
            unit = write / write.norm().clamp(min=1e-12)
            base = unit if self.scale == "unit" else write * float(e.mean_act or 0.0)
            out[e.layer] = out[e.layer] + e.strength * base
        for v in self.vectors:
            out[v.layer] = out[v.layer] + v.strength * self._vector(engine, v)
        return {layer: self.alpha * vec for layer, vec in sorted(out.items())}

    def norm(self, engine: Engine) -> float:
        """The L2 norm of everything this spec adds (all layers together), α applied: what norm-matched controls
        match."""
        return math.sqrt(sum(float((v.double() ** 2).sum()) for v in self.layer_vectors(engine).values()))

    # ------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["vectors"] = [{**asdict(v), "vector": list(v.vector)} for v in self.vectors]
        if self.method == "add":
            del d["method"]  # a spec of today's method reads (and digests) as before
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
        known = {"latents", "vectors", "alpha", "scale", "positions", "decay", "decay_power", "meta", "method"}
        unknown = set(data) - known - {"version"}
        if unknown:
            raise SpecError(f"unknown steering spec fields: {', '.join(sorted(unknown))}")
        _check_types(data, _SPEC_TYPES, "the spec")
        items = [*_items(data, "latents"), *_items(data, "vectors")]
        if len(items) > MAX_SPEC_ITEMS:
            raise SpecError(f"a spec holds at most {MAX_SPEC_ITEMS} latents and vectors, not {len(items)}")
        latents = tuple(SteerLatent(**_fields(e, SteerLatent, "latents")) for e in _items(data, "latents"))
        vectors = tuple(
            SteerVector(**{**_fields(v, SteerVector, "vectors"), "vector": tuple(float(x) for x in v["vector"])})
            for v in _items(data, "vectors")
        )
        rest = {k: data[k] for k in known - {"latents", "vectors"} if k in data}
        return cls(latents=latents, vectors=vectors, **rest)

    @classmethod
    def from_json(cls, text: str) -> SteeringSpec:
        try:
            data = jsonsafe.loads(text, "the steering spec")
        except SaifError as err:
            raise SpecError(str(err)) from None
        return cls.from_dict(data)


MAX_VECTOR_SIZE = 65536
"""Entries of one raw vector: wider than any model's residual stream; bounds what a spec file can make us parse."""
_NUMBER = (int, float)
_SPEC_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "alpha": (_NUMBER, "a number"),
    "scale": ((str,), "a string"),
    "method": ((str,), "a string"),
    "positions": ((str,), "a string"),
    "decay": (_NUMBER, "a number"),
    "decay_power": (_NUMBER, "a number"),
    "meta": ((dict,), "an object"),
    "latents": ((list, tuple), "a list"),
    "vectors": ((list, tuple), "a list"),
}
_ITEM_TYPES: dict[type, dict[str, tuple[tuple[type, ...], str]]] = {
    SteerLatent: {
        "sae": ((str,), "a string"),
        "layer": ((int,), "an integer"),
        "latent": ((int,), "an integer"),
        "strength": (_NUMBER, "a number"),
        "mean_act": ((*_NUMBER, type(None)), "a number or null"),
    },
    SteerVector: {
        "layer": ((int,), "an integer"),
        "vector": ((list, tuple), "a list of numbers"),
        "strength": (_NUMBER, "a number"),
        "label": ((str,), "a string"),
    },
}
"""The JSON type of every field (a tuple is a list: `to_dict` keeps the spec's tuples): a spec file is checked
field by field, so a wrong one is named, not a TypeError."""


def _check_types(entry: dict[str, Any], types: dict[str, tuple[tuple[type, ...], str]], where: str) -> None:
    for key, (allowed, what) in types.items():
        if key in entry and (isinstance(entry[key], bool) or not isinstance(entry[key], allowed)):
            raise SpecError(f"'{key}' of {where} must be {what}, not {json.dumps(entry[key])[:40]}")


def _items(data: dict[str, Any], key: str) -> list[Any]:
    return list(data.get(key, []))


def _fields(entry: Any, kind: type, where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise SpecError(f"each item of '{where}' is a JSON object")
    allowed = set(kind.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = set(entry) - allowed
    if unknown:
        raise SpecError(f"unknown fields in '{where}': {', '.join(sorted(unknown))}")
    required = {n for n, f in kind.__dataclass_fields__.items() if f.default is MISSING}  # type: ignore[attr-defined]
    missing = required - set(entry)
    if missing:
        raise SpecError(f"each item of '{where}' needs {', '.join(sorted(missing))}")
    _check_types(entry, _ITEM_TYPES[kind], f"an item of '{where}'")
    if kind is SteerVector:
        vector = entry["vector"]
        if len(vector) > MAX_VECTOR_SIZE:
            raise SpecError(f"a vector of '{where}' has {len(vector):,} entries; at most {MAX_VECTOR_SIZE:,}")
        if any(isinstance(x, bool) or not isinstance(x, _NUMBER) for x in vector):
            raise SpecError(f"a vector of '{where}' must hold numbers only")
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
