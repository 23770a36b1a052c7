"""The statistics every rate and comparison carries: a 95% Wilson interval for a rate, McNemar's exact test for two
rates measured on the same contents (statsmodels, never hand-written)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from saif_ui.engine.errors import SaifError

CONFIDENCE = 0.95


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a binomial rate (statsmodels' `proportion_confint`, method "wilson").

    Wilson rather than the normal approximation: at the rates that matter here (0 %, 100 %, small n) the normal
    interval collapses to a point or leaves [0, 1]. (0.0, 1.0) for n = 0.

    Example:
        >>> [round(x, 3) for x in wilson_interval(8, 10)]
        [0.49, 0.943]
    """
    if not 0 <= successes <= n:
        raise SaifError(f"successes must lie in 0..n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    # Exactly 0 and 1 at the ends (the formula leaves rounding dust such as 3e-18).
    return (0.0 if successes == 0 else float(low)), (1.0 if successes == n else float(high))


class PairedDict(TypedDict):
    """A `Paired` as the shipped study results carry it (`Paired.to_dict`), typed for the findings renderers. Its
    fields repeat `Paired`'s: the type checker cannot derive a TypedDict from a dataclass (a test keeps them equal)."""

    n: int
    a: int
    b: int
    only_a: int
    only_b: int
    p: float


@dataclass(frozen=True)
class Paired:
    """Two verdicts on the same n items: how often each passes, the discordant counts, and McNemar's exact p."""

    n: int
    a: int
    b: int
    only_a: int
    only_b: int
    p: float

    def to_dict(self) -> PairedDict:
        return {"n": self.n, "a": self.a, "b": self.b, "only_a": self.only_a, "only_b": self.only_b, "p": self.p}


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> Paired:
    """McNemar's exact test (statsmodels) of verdicts `a` and `b` on the same items, in the same order.

    Only the discordant items (one passes, the other not) carry information; p = 1 when there are none.

    Example:
        >>> mcnemar_exact([True] * 7 + [False] * 5, [False] * 7 + [False] * 5).p  # 7 discordant, all one way
        0.015625
    """
    if len(a) != len(b):
        raise SaifError(f"a paired test needs the same items: {len(a)} verdicts against {len(b)}")
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    table = np.array([[int(np.sum(x & y)), int(np.sum(x & ~y))], [int(np.sum(~x & y)), int(np.sum(~x & ~y))]])
    only_a, only_b = int(table[0, 1]), int(table[1, 0])
    if only_a + only_b == 0:
        p = 1.0
    else:
        from statsmodels.stats.contingency_tables import mcnemar

        p = float(mcnemar(table, exact=True).pvalue)
    return Paired(n=len(x), a=int(x.sum()), b=int(y.sum()), only_a=only_a, only_b=only_b, p=p)
