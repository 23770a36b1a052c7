"""Orderings that are the same on every machine: ranking by values that may differ in their last bits between CPUs."""

from __future__ import annotations

import torch

TIE_BITS = 20
"""Significant bits kept by `tie_key` (about 1e-6 relative; float32 has 24)."""


def tie_key(values: torch.Tensor, bits: int = TIE_BITS) -> torch.Tensor:
    """`values` in float64 rounded to `bits` significant bits, to rank by with a stable sort.

    BLAS kernels differ between CPUs in the last bits of float32 results, so two latents with the same score (e.g.
    duplicate directions) may come out as 2.5 and 2.4999998 on one machine and the other way round on another.
    Rounded, they tie and the stable sort keeps them in id order, the same everywhere. Relative rather than absolute
    rounding: scores range from ~1e-3 (freq) to hundreds (t, mean), and the noise scales with the value.
    """
    mantissa, exponent = torch.frexp(values.detach().double())
    return torch.ldexp(torch.round(mantissa * 2**bits) / 2**bits, exponent)


def rank_desc(values: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Indices of `values` (1-D) from largest to smallest, ties (equal up to float noise) by the lower index; the
    first `k` when given. What `topk` gives, minus its unspecified order of equal values."""
    order = torch.sort(-tie_key(values), stable=True).indices
    return order if k is None else order[:k]
