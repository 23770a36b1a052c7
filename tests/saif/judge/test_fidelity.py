"""Content fidelity: chrF against the answer's own content, always beside a mismatched-pairing control."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saif_ui.engine.errors import SaifError
from saif_ui.saif.judge.fidelity import chrf, fidelity, mismatched_pairing, threshold

CONTENTS = [
    "The library opens at nine in the morning and closes at six in the evening.",
    "Honeybees share the location of flowers with each other through a special dance.",
    "The old bridge across the river was rebuilt after a flood damaged it.",
    "Fresh bread tastes best when it has cooled for a few minutes.",
]


def test_chrf_is_sacrebleu_sentence_chrf() -> None:
    from sacrebleu import sentence_chrf

    hyp, ref = "La bibliothèque ouvre à neuf heures.", CONTENTS[0]
    assert chrf(hyp, ref) == pytest.approx(sentence_chrf(hyp, [ref]).score)
    assert chrf(ref, ref) == pytest.approx(100.0)
    assert chrf("", ref) == 0.0 and chrf("   ", ref) == 0.0


@given(st.lists(st.sampled_from(["statement", "paragraph"]), min_size=2, max_size=40))
def test_mismatched_pairing_never_pairs_an_item_with_itself(kinds: list[str]) -> None:
    pairing = mismatched_pairing(kinds)
    assert len(pairing) == len(kinds)
    assert all(p != i and 0 <= p < len(kinds) for i, p in enumerate(pairing))
    for i, p in enumerate(pairing):
        # Same kind whenever another item of that kind exists.
        if kinds.count(kinds[i]) > 1:
            assert kinds[p] == kinds[i]


def test_mismatched_pairing_needs_two_items() -> None:
    with pytest.raises(SaifError, match="at least 2"):
        mismatched_pairing(["statement"])


def test_copies_are_faithful_and_a_shuffle_is_not() -> None:
    pairing = mismatched_pairing(["statement"] * len(CONTENTS))
    kept = fidelity(CONTENTS, CONTENTS, pairing)
    assert kept.matched == pytest.approx((100.0,) * 4) and kept.gap > 50
    shuffled = [CONTENTS[p] for p in pairing]  # every answer is about another content
    lost = fidelity(shuffled, CONTENTS, pairing)
    assert lost.gap < 0  # closer to the wrong content than to its own
    tau = threshold(kept.mismatched + lost.matched)
    assert kept.faithful(tau) == [True] * 4 and not any(lost.faithful(tau))
    assert kept.to_dict()["n"] == 4 and kept.to_dict()["reference"] == "content"


def test_wilcoxon_p_is_small_only_when_matched_beats_mismatched() -> None:
    many = CONTENTS * 3
    pairing = mismatched_pairing(["statement"] * len(many))
    assert fidelity(many, many, pairing).test() < 0.01
    assert fidelity([""] * len(many), many, pairing).test() == 1.0


def test_threshold_is_the_quantile_and_checks_its_input() -> None:
    assert threshold([float(x) for x in range(101)], 0.95) == pytest.approx(95.0)
    with pytest.raises(SaifError, match="needs mismatched scores"):
        threshold([])
    with pytest.raises(SaifError, match="quantile"):
        threshold([1.0], 1.0)


def test_fidelity_rejects_misaligned_input() -> None:
    with pytest.raises(SaifError, match="one reference per answer"):
        fidelity(["a"], ["a", "b"], [1])
    with pytest.raises(SaifError, match="another item"):
        fidelity(["a", "b"], ["a", "b"], [0, 0])
