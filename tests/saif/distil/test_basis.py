"""The two parametrisations: a latent combination is Σ coef × unit direction, prunes to its largest coefficients and
keeps them; the free vector starts at zero."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from saif_ui.engine.errors import SaifError
from saif_ui.saif.distil.basis import FreeVector, LatentCombination


def _unit(n: int, d: int, seed: int = 0) -> torch.Tensor:
    rows = torch.randn(n, d, generator=torch.Generator().manual_seed(seed))
    return rows / rows.norm(dim=1, keepdim=True)


def test_a_combination_is_its_coefficients_times_the_directions() -> None:
    dirs = _unit(5, 8)
    coef = torch.tensor([0.0, 2.0, -1.0, 0.5, 0.0])
    comb = LatentCombination([10, 11, 12, 13, 14], dirs, coef)
    assert torch.allclose(comb(), coef @ dirs)
    assert comb.nonzero() == 3
    assert float(comb.penalty().detach()) == pytest.approx(3.5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=12), st.integers(1, 12))
def test_pruning_keeps_the_largest_coefficients_and_their_values(values: list[float], keep: int) -> None:
    n = len(values)
    keep = min(keep, n)
    latents = list(range(100, 100 + n))
    comb = LatentCombination(latents, _unit(n, 6), torch.tensor(values))
    kept = comb.pruned(keep)
    assert len(kept.latents) == keep and kept.latents == sorted(kept.latents)
    smallest_kept = min(abs(float(c)) for c in kept.coef)
    dropped = [abs(values[j]) for j in range(n) if latents[j] not in kept.latents]
    assert all(x <= smallest_kept + 1e-6 for x in dropped)
    for lat, c in zip(kept.latents, kept.coef, strict=True):
        assert float(c) == pytest.approx(values[latents.index(lat)], rel=1e-6, abs=1e-6)
        assert torch.allclose(kept.directions[kept.latents.index(lat)], comb.directions[latents.index(lat)])


def test_shrinking_scales_the_vector_and_the_free_vector_starts_at_zero() -> None:
    comb = LatentCombination([1, 2], _unit(2, 4), torch.tensor([3.0, 4.0]))
    before = comb().clone()
    comb.shrink(0.5)
    assert torch.allclose(comb(), 0.5 * before)
    free = FreeVector(7)
    assert torch.equal(free(), torch.zeros(7)) and float(free.penalty().detach()) == 0.0


def test_a_combination_needs_one_direction_per_latent() -> None:
    with pytest.raises(SaifError, match="one direction per latent"):
        LatentCombination([1, 2, 3], _unit(2, 4))
