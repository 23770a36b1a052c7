"""Plotly figures of what a latent does: token heatmaps of prompts, its activation histogram and the UMAP map of an
SAE's latents; pure functions from plain data to `go.Figure`, in the palette and style of `figures`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from saif_ui.ui.figures import NEIGHBOUR, ORDINARY_SCALE, RANKED, SELECTED, SPECIAL, empty_figure, style

SPECIAL_SCALE = [[0.0, "rgba(242,153,74,0)"], [0.15, "rgba(242,153,74,0.35)"], [1.0, "rgba(214,48,49,1)"]]
"""Special-token latents get their own colour scale: their activations are 10-100x larger (FAST), and on a shared
scale every ordinary latent would look switched off. Both scales start transparent, so a silent latent shows the
page's own background in the light and the dark theme alike."""


def token_label(token: str) -> str:
    """How a token is shown on an axis: visible newlines and leading spaces, at most 12 characters."""
    shown = token.replace("\n", "⏎").replace("\t", "⇥")
    if shown.startswith(" "):
        shown = "·" + shown[1:]
    return shown[:12] or "∅"


def token_heatmap(
    positive: Mapping[str, Any],
    negative: Mapping[str, Any],
    special_latents: Sequence[int] = (),
    title: str | None = None,
) -> go.Figure:
    """Tokens × latents activations of the positive (with instruction) and negative prompt, one panel each.

    Args:
        positive, negative: `Heatmap.to_dict()`: tokens, special, latents, values [T][k], instruction_tokens.
        special_latents: latents drawn on their own colour scale (second colour bar).
    """
    latents = [int(i) for i in positive["latents"]]
    special = set(int(i) for i in special_latents) & set(latents)
    rows = [f"#{i}" + (" ★" if i in special else "") for i in latents]
    panels = [("with the instruction", positive), ("without", negative)]
    fig = make_subplots(
        rows=2, cols=1, subplot_titles=[p[0] for p in panels], vertical_spacing=0.22, shared_xaxes=False
    )
    all_vals = np.array([v for _, h in panels for row in h["values"] for v in row] or [0.0])
    ordinary = [k for k, i in enumerate(latents) if i not in special]
    special_rows = [k for k, i in enumerate(latents) if i in special]

    def vmax(cols: list[int]) -> float:
        vals = [row[k] for _, h in panels for row in h["values"] for k in cols]
        return max(max(vals, default=0.0), 1e-6)

    for r, (_, h) in enumerate(panels, start=1):
        z = np.asarray(h["values"], dtype=float).T if h["values"] else np.zeros((len(latents), 0))
        x = list(range(len(h["tokens"])))
        ticks = [token_label(t) + ("◆" if s else "") for t, s in zip(h["tokens"], h["special"], strict=True)]
        hover = [[f"{token_label(t)}" for t in h["tokens"]] for _ in latents]
        for kind, keep, axis in (("ordinary", ordinary, "coloraxis"), ("special", special_rows, "coloraxis2")):
            if not keep:
                continue
            masked = np.full_like(z, np.nan)
            masked[keep] = z[keep]
            fig.add_trace(
                go.Heatmap(
                    z=masked,
                    x=x,
                    y=rows,
                    coloraxis=axis,
                    customdata=hover,
                    hovertemplate="token %{x} %{customdata}<br>latent %{y}<br>activation %{z:.2f}<extra></extra>",
                    name=kind,
                ),
                row=r,
                col=1,
            )
        fig.update_xaxes(tickmode="array", tickvals=x, ticktext=ticks, tickangle=-60, row=r, col=1)
        fig.update_yaxes(autorange="reversed", row=r, col=1)
        span = h.get("instruction_tokens")
        if span:
            axis_n = "" if r == 1 else str(r)
            fig.add_shape(
                type="rect",
                x0=span[0] - 0.5,
                x1=span[1] - 0.5,
                y0=-0.5,
                y1=len(latents) - 0.5,
                xref=f"x{axis_n}",
                yref=f"y{axis_n}",
                line=dict(color=SELECTED, width=2, dash="dot"),
            )
    fig.update_layout(
        coloraxis=dict(
            colorscale=ORDINARY_SCALE, cmin=0, cmax=vmax(ordinary), colorbar=dict(title="act.", x=1.0, len=0.45, y=0.8)
        ),
        coloraxis2=dict(
            colorscale=SPECIAL_SCALE,
            cmin=0,
            cmax=vmax(special_rows),
            colorbar=dict(title="special ★", x=1.0, len=0.45, y=0.2),
            showscale=bool(special_rows),
        ),
    )
    height = 2 * (22 * len(latents) + 60) + 200
    fig = style(fig, int(min(max(height, 420), 1400)), title)
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(showgrid=False)
    fig.update_layout(meta={"max_activation": float(all_vals.max())})
    return fig


def activation_histogram(edges: Sequence[float], counts: Sequence[int], title: str | None = None) -> go.Figure:
    """Histogram of a latent's positive activations on log-spaced bins (bar at each bin's geometric centre)."""
    if not counts or sum(counts) == 0:
        return empty_figure("This latent never fired on the card's held-out chats.", 220)
    centres = [math.sqrt(a * b) for a, b in itertools.pairwise(edges)]
    widths = [b - a for a, b in itertools.pairwise(edges)]
    fig = go.Figure(
        go.Bar(
            x=centres,
            y=list(counts),
            width=widths,
            marker_color=RANKED,
            hovertemplate="%{x:.3g}: %{y} tokens<extra></extra>",
        )
    )
    fig.update_xaxes(type="log", title="activation")
    fig.update_yaxes(title="tokens")
    return style(fig, 240, title)


def umap_scatter(
    coords: np.ndarray,
    ranked: Sequence[int] = (),
    special: Sequence[int] = (),
    selected: int | None = None,
    neighbours: Sequence[int] = (),
    title: str | None = None,
    labels: Mapping[int, str] | None = None,
) -> go.Figure:
    """All latents on their UMAP map; instruction-relevant ones, special-token ones and the selected latent stand out,
    with lines from the selected latent to its decoder-space neighbours. Hovering a point shows its id and, when
    `labels` are given, its context label."""
    coords = np.asarray(coords, dtype=float)
    n = coords.shape[0]
    fig = go.Figure()
    ids: Any = np.arange(n)
    if labels:
        ids = [f"{i} · {labels.get(i, '')}" for i in range(n)]
    fig.add_trace(
        go.Scattergl(
            x=coords[:, 0],
            y=coords[:, 1],
            mode="markers",
            marker=dict(size=3, color="rgba(140,140,140,0.35)"),
            customdata=ids,
            hovertemplate="latent %{customdata}<extra></extra>",
            name="all latents",
        )
    )
    for label, group, colour, size in (
        ("instruction-relevant", ranked, RANKED, 8),
        ("special-token", special, SPECIAL, 8),
    ):
        idx = [int(i) for i in group if 0 <= int(i) < n]
        if idx:
            fig.add_trace(
                go.Scattergl(
                    x=coords[idx, 0],
                    y=coords[idx, 1],
                    mode="markers",
                    marker=dict(size=size, color=colour, line=dict(width=0.5, color="white")),
                    customdata=[ids[i] for i in idx],
                    hovertemplate="latent %{customdata}<extra>" + label + "</extra>",
                    name=label,
                )
            )
    if selected is not None and 0 <= selected < n:
        near = [int(i) for i in neighbours if 0 <= int(i) < n and int(i) != selected]
        if near:
            xs: list[float | None] = []
            ys: list[float | None] = []
            for i in near:
                xs += [coords[selected, 0], coords[i, 0], None]
                ys += [coords[selected, 1], coords[i, 1], None]
            fig.add_trace(
                go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=NEIGHBOUR, width=1), name="neighbour links")
            )
            fig.add_trace(
                go.Scatter(
                    x=coords[near, 0],
                    y=coords[near, 1],
                    mode="markers",
                    marker=dict(size=7, color=NEIGHBOUR),
                    customdata=[ids[i] for i in near],
                    hovertemplate="latent %{customdata}<extra>neighbour</extra>",
                    name="neighbours",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=[coords[selected, 0]],
                y=[coords[selected, 1]],
                mode="markers",
                marker=dict(size=16, color=SELECTED, symbol="star"),
                customdata=[ids[selected]],
                hovertemplate="latent %{customdata}<extra>selected</extra>",
                name=f"selected #{selected}",
            )
        )
    fig.update_xaxes(showticklabels=False, title="UMAP 1")
    fig.update_yaxes(showticklabels=False, title="UMAP 2")
    return style(fig, 460, title)
