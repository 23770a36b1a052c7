"""Tests for saif_ui.engine.order: rankings that do not depend on the CPU's last bits."""

from __future__ import annotations

import itertools

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from saif_ui.engine.order import rank_desc, tie_key


def test_values_equal_up_to_float_noise_tie_and_rank_by_index() -> None:
    base = torch.tensor([2.5, 1.0, 2.5, 3.0, 2.5], dtype=torch.float32)
    noisy = base.clone()
    noisy[0] = torch.nextafter(noisy[0], torch.tensor(0.0))  # 2.4999998: what another kernel may compute
    noisy[4] = torch.nextafter(noisy[4], torch.tensor(9.0))
    assert torch.argsort(noisy, descending=True, stable=True).tolist() != [3, 0, 2, 4, 1]  # raw order is noise
    assert rank_desc(noisy).tolist() == rank_desc(base).tolist() == [3, 0, 2, 4, 1]
    assert rank_desc(noisy, 2).tolist() == [3, 0]
    assert tie_key(noisy)[0] == tie_key(noisy)[2] == tie_key(noisy)[4]


def test_tie_key_is_relative_so_small_and_large_values_both_tie() -> None:
    for scale in (1e-3, 1.0, 500.0):
        a = torch.tensor([scale], dtype=torch.float32)
        b = torch.nextafter(a, torch.tensor([0.0]))
        assert tie_key(a) == tie_key(b)
        assert tie_key(a) != tie_key(a * 1.001)  # real differences stay apart


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0, -2.5, 3.25, 1e-3]), min_size=1, max_size=40))
def test_rank_desc_is_a_permutation_largest_first_ties_by_index(values: list[float]) -> None:
    t = torch.tensor(values, dtype=torch.float32)
    order = rank_desc(t).tolist()
    assert sorted(order) == list(range(len(values)))
    for a, b in itertools.pairwise(order):
        assert values[a] > values[b] or (values[a] == values[b] and a < b)
