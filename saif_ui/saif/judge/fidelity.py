"""Content fidelity: does an answer keep *its* content, or only the language, names and length of any content?

Scored with chrF (sacrebleu's `sentence_chrf`, character 6-grams, β = 2), which survives translation better than word
BLEU: names, numbers and cognates keep their characters across French, Spanish and German. A raw chrF means little on
its own: an answer in the right language of the right length scores well above zero against *any* passage. So every
matched score is read beside a mismatched-pairing control, the same answer scored against another content of the same
kind (`mismatched_pairing`); the gap between the two is the content kept.

An answer is *faithful* when its matched score reaches a threshold chosen on validation answers (`threshold`): a
high quantile of the mismatched scores, i.e. a score that pairing with the wrong content seldom reaches. The
evaluations score against the model's own prompted answer (same language as a compliant answer); chrF to the
English content is reported beside it, but across languages it hardly tells one content from another.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saif_ui.engine.errors import SaifError

FAITHFUL_QUANTILE = 0.95
"""The threshold is this quantile of the mismatched scores: a wrong pairing passes it 5 % of the time."""


def chrf(hypothesis: str, reference: str) -> float:
    """sacrebleu's sentence-level chrF (0-100) of `hypothesis` against one `reference`; 0 for an empty answer."""
    if not hypothesis.strip() or not reference.strip():
        return 0.0
    from sacrebleu import sentence_chrf

    return float(sentence_chrf(hypothesis, [reference]).score)


def mismatched_pairing(kinds: Sequence[str]) -> list[int]:
    """For each item, the index of another item of the same kind (the next one of that kind, cyclically), so the
    control keeps length and form and changes only the content. An item alone of its kind pairs with the next item.

    Example:
        >>> mismatched_pairing(["statement", "paragraph", "statement", "paragraph"])
        [2, 3, 0, 1]
    """
    n = len(kinds)
    if n < 2:
        raise SaifError("a mismatched pairing needs at least 2 items")
    groups: dict[str, list[int]] = {}
    for i, kind in enumerate(kinds):
        groups.setdefault(kind, []).append(i)
    out = [0] * n
    for members in groups.values():
        for j, i in enumerate(members):
            out[i] = members[(j + 1) % len(members)] if len(members) > 1 else (i + 1) % n
    return out


@dataclass(frozen=True)
class Fidelity:
    """chrF of each answer against its own reference and against a mismatched one (same order as the answers)."""

    matched: tuple[float, ...]
    mismatched: tuple[float, ...]
    reference: str
    """What the answers were scored against: `content` or `prompted` (the model's own prompted answer)."""

    @property
    def n(self) -> int:
        return len(self.matched)

    @property
    def gap(self) -> float:
        """Mean matched minus mean mismatched chrF: the content kept, in chrF points."""
        return statistics.fmean(self.matched) - statistics.fmean(self.mismatched) if self.n else 0.0

    def faithful(self, threshold: float) -> list[bool]:
        return [m >= threshold for m in self.matched]

    def test(self) -> float:
        """Wilcoxon signed-rank p (scipy) of matched > mismatched on the same answers; 1.0 when no difference."""
        diffs = np.asarray(self.matched) - np.asarray(self.mismatched)
        if self.n == 0 or not np.any(diffs):
            return 1.0
        from scipy.stats import wilcoxon

        return float(wilcoxon(diffs, alternative="greater").pvalue)

    def to_dict(self) -> dict[str, Any]:
        mean = statistics.fmean
        return {
            "reference": self.reference,
            "n": self.n,
            "matched": round(mean(self.matched), 2) if self.n else 0.0,
            "mismatched": round(mean(self.mismatched), 2) if self.n else 0.0,
            "gap": round(self.gap, 2),
            "p": self.test(),
        }


def fidelity(
    answers: Sequence[str], references: Sequence[str], pairing: Sequence[int], reference: str = "content"
) -> Fidelity:
    """Score each answer against `references[i]` and against `references[pairing[i]]` (see `mismatched_pairing`)."""
    if not len(answers) == len(references) == len(pairing):
        raise SaifError(
            f"fidelity needs one reference per answer: {len(answers)} answers, {len(references)} references"
        )
    if any(p == i for i, p in enumerate(pairing)):
        raise SaifError("a mismatched pairing must pair every answer with another item")
    matched = tuple(chrf(a, r) for a, r in zip(answers, references, strict=True))
    mismatched = tuple(chrf(a, references[p]) for a, p in zip(answers, pairing, strict=True))
    return Fidelity(matched=matched, mismatched=mismatched, reference=reference)


def threshold(mismatched: Sequence[float], quantile: float = FAITHFUL_QUANTILE) -> float:
    """The faithfulness threshold: the `quantile` of mismatched scores (numpy's linear interpolation). Choose it on
    validation answers and apply it unchanged on test."""
    if not mismatched:
        raise SaifError("a threshold needs mismatched scores")
    if not 0.0 < quantile < 1.0:
        raise SaifError("quantile must lie in (0, 1)")
    return round(float(np.quantile(np.asarray(mismatched, dtype=float), quantile)), 2)
