"""How every benchmark figure is measured and recorded: best-of-n wall times taken side by side in one run, and one
`Figure` per id with its value, target and raw timings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch


def sync() -> None:
    """Wait for the GPU's queued work, when CUDA is in use (a no-op on a CPU run). CUDA kernels run asynchronously:
    without this a timer stops when the last kernel is *launched*, not when it has run, and a figure that ends on the
    GPU (a copy, a forward whose output is not read) would look faster than it is."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any]) -> float:
    """Wall seconds of one call of `fn`, the GPU's queue drained before and after (`sync`)."""
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def best_of(fn: Callable[[], Any], repeats: int = 3) -> float:
    """Best wall time of `repeats` runs: the run least disturbed by other load on a noisy machine."""
    return min(timed(fn) for _ in range(max(3, repeats)))


def paired_best(fns: dict[str, Callable[[], Any]], repeats: int = 3) -> dict[str, float]:
    """Best time of each function, measured interleaved (a, b, a, b, ...) so drifting load hits both alike."""
    best = {name: float("inf") for name in fns}
    for _ in range(max(3, repeats)):
        for name, fn in fns.items():
            best[name] = min(best[name], timed(fn))
    return best


@dataclass
class Figure:
    """One benchmark figure: `value` compared with `target` (`kind` says how), with what it was measured from."""

    id: str
    figure: str
    value: float | None
    target: float | None
    kind: str = ">="
    """`>=`: value must reach the target; `<=`: value must stay under it; `report`: no target."""
    unit: str = "×"
    raw: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None or self.target is None or self.kind == "report":
            return None
        return self.value >= self.target if self.kind == ">=" else self.value <= self.target

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


def speedup(
    id: str,
    figure: str,
    t: dict[str, float],
    slow: str,
    fast: str,
    target: float | None,
    *,
    digits: int = 3,
    kind: str = ">=",
    note: str = "",
    **raw: Any,
) -> Figure:
    """The figure of how many times faster `fast` ran than `slow`, from the best times `t` of `paired_best`: the
    ratio rounded to `digits`, every best time under `raw["seconds"]` followed by the figure's own `raw` numbers."""
    seconds = {k: round(v, 3) for k, v in t.items()}
    return Figure(
        id, figure, round(t[slow] / t[fast], digits), target, kind, raw={"seconds": seconds, **raw}, note=note
    )
