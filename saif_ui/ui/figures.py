"""Plotly figures of the dashboard's results (α sweeps, training curves, ablations, joint grids, distillation) and
the palette and style every figure shares: pure functions from plain data (lists, dicts, arrays) to `go.Figure`, no
gradio. What a latent looks like (heatmaps, histograms, the UMAP map) is in `latent_figures`.

Every figure has a transparent background, a mid-grey font and translucent grid lines, so it reads the same in the
light and the dark theme.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

FONT = "#8a8f98"
GRID = "rgba(128,128,128,0.25)"
ORDINARY_SCALE = [[0.0, "rgba(47,128,237,0)"], [0.15, "rgba(47,128,237,0.35)"], [1.0, "rgba(30,80,200,1)"]]
RANKED = "#2f80ed"
SPECIAL = "#f2994a"
SELECTED = "#eb5757"
NEIGHBOUR = "#27ae60"


def style(fig: go.Figure, height: int, title: str | None = None) -> go.Figure:
    """`fig` with the dashboard's look: `height` pixels, `title` at the top left, transparent, grey grid."""
    fig.update_layout(
        height=height,
        title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font=dict(color=FONT, size=12),
        margin=dict(l=60, r=30, t=50 if title else 20, b=40),
        legend=dict(orientation="h", y=-0.18, x=0),
    )
    fig.update_xaxes(gridcolor=GRID, zerolinecolor=GRID)
    fig.update_yaxes(gridcolor=GRID, zerolinecolor=GRID)
    return fig


def empty_figure(message: str, height: int = 260) -> go.Figure:
    """A blank figure carrying a hint, shown before there is anything to plot."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=14))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, height)


def sweep_figure(
    alphas: Sequence[float],
    compliance: Mapping[str, Sequence[float | None]],
    perplexity: Sequence[float | None],
    repetition: Sequence[float | None],
    baselines: Mapping[str, float | None],
    intervals: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> go.Figure:
    """Accuracy (`compliance`: fluent strict, strict, loose, one value per α) and fluency (perplexity, repetition)
    against α, with the baselines (original, prompted) as dashed lines: over-steering shows as fluency collapsing
    while accuracy rises. `intervals` (low, high per α) draw as error bars on the curves they name."""
    if not alphas:
        return empty_figure("Run a sweep to plot accuracy and fluency against α.")
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("compliance (share of validation contents)", "fluency"), horizontal_spacing=0.12
    )
    styles = {"fluent_strict": ("solid", 3), "strict": ("dot", 1.5), "loose": ("dash", 1.5)}
    for key, values in compliance.items():
        dash, width = styles.get(key, ("solid", 1.5))
        bounds = (intervals or {}).get(key)
        error = (
            dict(
                type="data",
                symmetric=False,
                array=[hi - (v or 0.0) for v, (_, hi) in zip(values, bounds, strict=True)],
                arrayminus=[(v or 0.0) - lo for v, (lo, _) in zip(values, bounds, strict=True)],
            )
            if bounds
            else None
        )
        fig.add_trace(
            go.Scatter(
                x=list(alphas),
                y=list(values),
                mode="lines+markers",
                name=f"steered {key.replace('_', ' ')}",
                line=dict(dash=dash, width=width),
                error_y=error,
            ),
            row=1,
            col=1,
        )
    colours = {"original": FONT, "prompted": NEIGHBOUR}
    for name, level in baselines.items():
        if level is not None:
            colour = colours.get(name, FONT)
            fig.add_hline(
                y=level,
                line=dict(color=colour, dash="dash"),
                annotation_text=f"{name} {level:.2f}",
                annotation_font_color=colour,
                row=1,
                col=1,
            )
    fig.add_trace(go.Scatter(x=list(alphas), y=list(perplexity), mode="lines+markers", name="perplexity"), row=1, col=2)
    fig.add_trace(
        go.Scatter(
            x=list(alphas),
            y=[None if v is None else 100 * v for v in repetition],
            mode="lines+markers",
            name="repetition %",
        ),
        row=1,
        col=2,
    )
    log_x = all(a > 0 for a in alphas) and max(alphas) / min(alphas) >= 10
    fig.update_xaxes(title="α", type="log" if log_x else "linear")
    fig.update_yaxes(range=[-0.02, 1.02], row=1, col=1)
    return style(fig, 380)


def training_curves(curves: Mapping[str, Sequence[tuple[float, float]]], title: str | None = None) -> go.Figure:
    """One small panel per recorded training metric (loss, MSE, L0, explained variance, dead fraction, learning
    rate...), sharing the step axis: on one axis every quantity but the largest reads as a flat line at zero."""
    if not curves:
        return empty_figure("No training curve was recorded for this SAE.", 220)
    names = list(curves)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes=True, subplot_titles=names, vertical_spacing=0.12)
    for i, (name, points) in enumerate(curves.items()):
        trace = go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines", name=name)
        fig.add_trace(trace, row=i // cols + 1, col=i % cols + 1)
    for col in range(1, cols + 1):
        fig.update_xaxes(title="step", row=rows, col=col)
    fig.update_layout(showlegend=False)
    return style(fig, 200 + 170 * rows, title)


def ablation_figure(
    drop_one: Sequence[tuple[str, float, float, float]],
    add_one: Sequence[tuple[str, float, float, float]],
    full: float,
    baseline: float,
    metric: str,
) -> go.Figure:
    """Drop-one bars (the rate without each latent) and the add-one curve (the rate of the first i latents), each
    point (label, rate, low, high) with its 95% interval; the full selection and the unsteered rate as lines."""
    if not drop_one:
        return empty_figure("Ablate a selection of 2 or more latents to see which ones matter.")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("drop one", "add one (in the selection's order)"))
    for col, points, kind in ((1, drop_one, "bar"), (2, add_one, "line")):
        labels = [p[0] for p in points]
        rates = [p[1] for p in points]
        error = dict(type="data", symmetric=False, array=[p[3] - p[1] for p in points],
                     arrayminus=[p[1] - p[2] for p in points])  # fmt: skip
        trace = (
            go.Bar(x=labels, y=rates, error_y=error, name="without", marker_color=RANKED)
            if kind == "bar"
            else go.Scatter(x=labels, y=rates, error_y=error, mode="lines+markers", name="first i")
        )
        fig.add_trace(trace, row=1, col=col)
        for level, name, colour in ((full, "all latents", NEIGHBOUR), (baseline, "unsteered", FONT)):
            fig.add_hline(y=level, line=dict(color=colour, dash="dash"), annotation_text=f"{name} {level:.2f}",
                          annotation_font_color=colour, row=1, col=col)  # fmt: skip
    fig.update_yaxes(range=[-0.03, 1.03], title=metric.replace("_", " "), row=1, col=1)
    return style(fig, 380, "Which latents matter")


def joint_figure(
    weights_a: Sequence[float],
    weights_b: Sequence[float],
    rates: Mapping[tuple[float, float], tuple[float, int, int]],
    names: tuple[str, str],
    baselines: Mapping[str, float],
) -> go.Figure:
    """Joint compliance over the two instructions' weights: a heatmap of the rate in each cell (k/n written in it),
    the baselines' rates in the title (`rates`: (w_a, w_b) -> (rate, k, n))."""
    if not rates:
        return empty_figure("Sweep the two weights to see joint compliance here.")
    xs, ys = sorted(set(weights_a)), sorted(set(weights_b))
    z = [[rates[(x, y)][0] if (x, y) in rates else None for x in xs] for y in ys]
    text = [[f"{rates[(x, y)][1]}/{rates[(x, y)][2]}" if (x, y) in rates else "" for x in xs] for y in ys]
    fig = go.Figure(
        go.Heatmap(
            x=[f"{x:g}" for x in xs],
            y=[f"{y:g}" for y in ys],
            z=z,
            text=text,
            texttemplate="%{text}",
            zmin=0,
            zmax=1,
            colorscale=ORDINARY_SCALE,
            colorbar=dict(title="rate"),
            hovertemplate=f"{names[0]} × %{{x}}<br>{names[1]} × %{{y}}<br>both followed: %{{z:.0%}} (%{{text}})"
            "<extra></extra>",
        )
    )
    levels = " · ".join(f"{name} {100 * rate:.0f}%" for name, rate in baselines.items())
    fig.update_xaxes(title=f"weight of {names[0]}", type="category", gridcolor=GRID)
    fig.update_yaxes(title=f"weight of {names[1]}", type="category", gridcolor=GRID)
    return style(fig, 360, f"Both followed, by weight ({levels})" if levels else "Both followed, by weight")


def distil_figure(history: Sequence[Mapping[str, Any]], checks: Sequence[Mapping[str, Any]]) -> go.Figure:
    """A distillation as it trains: the loss at each step (left axis) and each validation check's success and
    fluent-strict rates (right axis, markers labelled k/n)."""
    if not history and not checks:
        return empty_figure("The loss appears here once training starts (after the prompted answers).", 260)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(x=[r["step"] for r in history], y=[r["loss"] for r in history], mode="lines", name="loss"),
        secondary_y=False,
    )
    for key, name, colour in (("successes", "validation success", NEIGHBOUR), ("fluent", "fluent strict", SPECIAL)):
        shown = [c for c in checks if c.get("n")]
        fig.add_trace(
            go.Scatter(
                x=[c["step"] for c in shown],
                y=[c[key] / c["n"] for c in shown],
                text=[f"{c[key]}/{c['n']}" for c in shown],
                mode="markers+text",
                textposition="top center",
                marker=dict(color=colour, size=9),
                name=name,
            ),
            secondary_y=True,
        )
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="loss", secondary_y=False)
    fig.update_yaxes(title="rate on validation", range=[-0.05, 1.1], secondary_y=True)
    return style(fig, 300)
