"""Plotly figures of what a latent does (`ui.latent_figures`): pure functions of plain data."""

from __future__ import annotations

import numpy as np

from saif_ui.ui import latent_figures


def heat(values: list[list[float]], latents: list[int], span: tuple[int, int] | None) -> dict:
    n = len(values)
    return {
        "tokens": [f"t{i}" for i in range(n)],
        "special": [i == 0 for i in range(n)],
        "latents": latents,
        "values": values,
        "instruction_tokens": span,
    }


def test_heatmap_puts_special_latents_on_their_own_colour_scale() -> None:
    pos = heat([[1.0, 90.0], [2.0, 80.0], [0.5, 85.0]], [7, 9], (1, 2))  # [tokens][latents]
    neg = heat([[0.0, 70.0], [0.2, 60.0]], [7, 9], None)
    fig = latent_figures.token_heatmap(pos, neg, special_latents=[9])
    kinds = sorted({(t.type, t.coloraxis) for t in fig.data})
    assert kinds == [("heatmap", "coloraxis"), ("heatmap", "coloraxis2")] and len(fig.data) == 4
    assert fig.layout.coloraxis.cmax == 2.0 and fig.layout.coloraxis2.cmax == 90.0  # 45x apart, scales separate
    assert fig.layout.shapes[0].x0 == 0.5  # the instruction span is outlined on the positive panel
    assert list(fig.data[0].y) == ["#7", "#9 ★"]


def test_umap_and_histogram_figures() -> None:
    coords = np.random.default_rng(0).normal(size=(50, 2))
    fig = latent_figures.umap_scatter(coords, ranked=[1, 2], special=[3], selected=1, neighbours=[1, 4, 5])
    names = [t.name for t in fig.data]
    assert names == ["all latents", "instruction-relevant", "special-token", "neighbour links", "neighbours",
                     "selected #1"]  # fmt: skip
    assert len(fig.data[0].x) == 50 and list(fig.data[4].customdata) == [4, 5]
    hist = latent_figures.activation_histogram([0.1, 1.0, 10.0], [3, 4])
    assert list(hist.data[0].y) == [3, 4] and hist.layout.xaxis.type == "log"
