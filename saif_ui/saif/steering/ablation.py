"""Which latents of a selection matter: drop-one and add-one curves of a spec at its α, on the same contents.

- drop-one: the spec without latent i, for each i (how much the rate falls when i is missing);
- add-one: the first i latents of the spec, in its order (how the rate grows as latents are added; the order is the
  spec's, e.g. discovery's ranking, so the curve is the greedy one when the spec is ranked).
Every point is an evaluation at the spec's α on the same contents, judged the same way (fluent strict, or success
when a fidelity threshold is set), each rate with its 95 % Wilson interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.inputs.contents import Content
from saif_ui.saif.steering.compare import Progress
from saif_ui.saif.steering.evaluate import EvalConfig, Evaluation, evaluate
from saif_ui.saif.steering.spec import SteeringSpec

MAX_ABLATED = 16
"""At most this many latents are ablated: each costs two evaluations."""


@dataclass(frozen=True)
class Point:
    """One evaluated variant of the spec: its rate of the headline verdict over n contents, with the interval."""

    label: str
    latents: tuple[int, ...]
    rate: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Ablation:
    instruction: str
    alpha: float
    metric: str
    full: Point
    baseline: Point
    """The unsteered (`original`) rate on the same contents."""
    drop_one: tuple[Point, ...]
    add_one: tuple[Point, ...]

    def to_dict(self) -> dict[str, Any]:
        def point(p: Point) -> dict[str, Any]:
            return {"label": p.label, "latents": list(p.latents), "rate": p.rate, "ci": [p.low, p.high], "n": p.n}

        return {
            "instruction": self.instruction,
            "alpha": self.alpha,
            "metric": self.metric,
            "full": point(self.full),
            "baseline": point(self.baseline),
            "drop_one": [point(p) for p in self.drop_one],
            "add_one": [point(p) for p in self.add_one],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ablation:
        def point(d: dict[str, Any]) -> Point:
            low, high = d["ci"]
            return Point(str(d["label"]), tuple(int(i) for i in d["latents"]), float(d["rate"]), low, high, int(d["n"]))

        try:
            return cls(
                instruction=str(data["instruction"]),
                alpha=float(data["alpha"]),
                metric=str(data["metric"]),
                full=point(data["full"]),
                baseline=point(data["baseline"]),
                drop_one=tuple(point(p) for p in data["drop_one"]),
                add_one=tuple(point(p) for p in data["add_one"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise SaifError(f"not an ablation: {err}") from None


def _point(ev: Evaluation, label: str, latents: Sequence[int], baseline: bool = False) -> Point:
    items = ev.baselines["original"] if baseline else ev.steered[ev.alphas[0]]
    verdicts = ev.verdicts(items)
    s = ev.baseline("original") if baseline else ev.summary(ev.alphas[0])
    low, high = s.ci(sum(verdicts) / len(verdicts))
    return Point(label, tuple(latents), sum(verdicts) / len(verdicts), low, high, len(verdicts))


def ablation_variants(spec: SteeringSpec) -> list[tuple[str, str, SteeringSpec, list[int]]]:
    """(group, label, spec, latents kept) of every point of an ablation of `spec`: the full spec, each drop-one, and
    the add-one prefixes of 1 .. k-1 latents in the spec's order (the k-th is the full spec)."""
    ids = [e.latent for e in spec.latents]
    variants: list[tuple[str, str, SteeringSpec, list[int]]] = [("full", "all", spec, ids)]
    variants += [("drop", f"without {i}", spec.without(i), [j for j in ids if j != i]) for i in ids]
    variants += [("add", f"first {n}", replace(spec, latents=spec.latents[:n]), ids[:n]) for n in range(1, len(ids))]
    return variants


def ablate(
    engine: Engine,
    instruction: Instruction | str,
    spec: SteeringSpec,
    contents: Sequence[Content],
    cfg: EvalConfig | None = None,
    progress: Progress | None = None,
) -> Ablation:
    """Drop-one and add-one evaluations of `spec`'s latents at its α on `contents` (see the module docstring)."""
    ids = [e.latent for e in spec.latents]
    if len(ids) < 2:
        raise SaifError("an ablation needs at least 2 latents in the selection")
    if len(ids) > MAX_ABLATED:
        raise SaifError(f"an ablation takes at most {MAX_ABLATED} latents (each costs two evaluations); got {len(ids)}")
    if len(contents) < 2:
        raise SaifError("an ablation needs at least 2 contents")
    ecfg = replace(cfg or EvalConfig(), alphas=(spec.alpha,), prompted_steered=False)
    variants = ablation_variants(spec)
    points: dict[str, list[Point]] = {"full": [], "drop": [], "add": []}
    baseline: Point | None = None
    metric = "fluent_strict"
    for step, (group, label, variant, kept) in enumerate(variants):
        ev = evaluate(engine, instruction, variant, contents, ecfg)
        metric = ev.headline
        points[group].append(_point(ev, label, kept))
        if baseline is None:
            baseline = _point(ev, "original", [], baseline=True)
        if progress:
            progress(step + 1, len(variants))
    assert baseline is not None
    full = points["full"][0]
    return Ablation(
        instruction=instruction if isinstance(instruction, str) else instruction.id,
        alpha=spec.alpha,
        metric=metric,
        full=full,
        baseline=baseline,
        drop_one=tuple(points["drop"]),
        add_one=(*points["add"], replace(full, label=f"first {len(ids)}")),
    )
