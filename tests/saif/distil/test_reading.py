"""The reading's arithmetic: a sparse non-negative fit finds the latents a vector is made of; shares and overlaps."""

from __future__ import annotations

import numpy as np
import torch

from saif_ui.saif.distil.reading import nonnegative_fit, overlap


def test_the_fit_recovers_a_sparse_nonnegative_combination() -> None:
    g = torch.Generator().manual_seed(0)
    dirs = torch.randn(200, 64, generator=g)
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    truth = np.zeros(200)
    truth[[3, 50, 177]] = [4.0, 2.0, 1.0]
    vector = torch.tensor(truth, dtype=torch.float32) @ dirs
    coef = nonnegative_fit(dirs, vector)
    assert (coef >= 0).all()
    assert set(np.argsort(-coef)[:3].tolist()) == {3, 50, 177}
    rebuilt = torch.tensor(coef, dtype=torch.float32) @ dirs
    assert float(((vector - rebuilt) ** 2).sum() / (vector**2).sum()) < 0.05


def test_overlap_counts_shared_latents_among_each_top_k() -> None:
    got = overlap([1, 2, 3, 4], [4, 9, 1, 8], k=3)
    assert got == {"k": 3, "shared": [1], "fraction": round(1 / 3, 4)}
