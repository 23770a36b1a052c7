"""Tests for saif_ui.saif.judge.stats: Wilson intervals and McNemar's exact paired test, against scipy."""

from __future__ import annotations

import typing
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from saif_ui.engine.errors import SaifError
from saif_ui.saif.judge.stats import Paired, PairedDict, mcnemar_exact, wilson_interval


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 10), (8, 10), (0, 96), (58, 96), (95, 96), (96, 96)])
def test_wilson_matches_scipy_and_contains_the_rate(k: int, n: int) -> None:
    low, high = wilson_interval(k, n)
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert low == pytest.approx(ref.low, abs=1e-9) and high == pytest.approx(ref.high, abs=1e-9)
    assert low <= k / n <= high
    assert (low == 0.0) == (k == 0) and (high == 1.0) == (k == n)


def test_wilson_refuses_impossible_counts() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(SaifError, match=r"successes must lie in 0\.\.n"):
        wilson_interval(5, 4)


def test_mcnemar_counts_discordant_items_and_matches_the_exact_binomial() -> None:
    a = [True] * 9 + [False] * 3 + [True] * 2 + [False] * 2
    b = [False] * 9 + [True] * 3 + [True] * 2 + [False] * 2
    r = mcnemar_exact(a, b)
    assert (r.n, r.a, r.b, r.only_a, r.only_b) == (16, 11, 5, 9, 3)
    # Exact McNemar is the two-sided binomial test of the discordant pairs at 1/2.
    assert r.p == pytest.approx(binomtest(9, 12, 0.5).pvalue, abs=1e-12)
    assert mcnemar_exact(b, a).p == pytest.approx(r.p)  # symmetric
    assert mcnemar_exact([True, False], [True, False]).p == 1.0  # no discordant pair: no evidence
    with pytest.raises(SaifError, match="same items: 2 verdicts against 3"):
        mcnemar_exact([True, False], [True, False, True])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_mcnemar_p_is_a_probability_and_depends_only_on_discordance(pairs: list[tuple[bool, bool]]) -> None:
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    r = mcnemar_exact(a, b)
    assert 0.0 <= r.p <= 1.0 and r.only_a + r.only_b <= r.n
    # Adding concordant items changes nothing.
    assert mcnemar_exact([*a, True, False], [*b, True, False]).p == pytest.approx(r.p)


def test_a_paired_tests_dict_has_the_typed_fields_the_findings_renderers_read() -> None:
    """`PairedDict` types the shipped form of a `Paired` (Python cannot derive a TypedDict from a dataclass for the
    type checker, so both list the fields): the two must not drift apart."""
    typed = typing.get_type_hints(PairedDict)
    assert typed == typing.get_type_hints(Paired)
    assert (
        list(mcnemar_exact([True, False], [False, False]).to_dict()) == list(typed) == [f.name for f in fields(Paired)]
    )
