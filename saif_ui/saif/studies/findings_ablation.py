"""The FINDINGS.md section of the drop-one / add-one study (several latents vs one): its claim line, table and
figure, from its shipped documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NotRequired, TypedDict

from saif_ui.saif.judge.stats import PairedDict
from saif_ui.saif.studies.findings_sections import (
    DerivedResult,
    Rate,
    above,
    figure,
    n_each,
    p_value,
    pct,
    plotted,
    rate_ci,
    rates_and_p,
    section,
    table,
    tally,
    typed_results,
)
from saif_ui.saif.studies.study import Docs, Glance


class AblationPoint(TypedDict):
    group: str
    label: str
    latents: list[int]
    norm: float
    success: Rate
    fluent_strict: Rate
    paired_vs_full: dict[str, PairedDict]
    outputs: NotRequired[list[dict[str, Any]]]


class AblationResult(DerivedResult):
    """A shipped result of the ablation study (`ablation_study.run_instruction`)."""

    original: dict[str, Rate]
    points: list[AblationPoint]


FIGURE = "ablation.png"
CLAIM = "SAIF: several latents steer better than one"


def _points(r: AblationResult) -> tuple[AblationPoint, AblationPoint, list[str]]:
    """The full recipe, its first latent alone, and the latents whose dropping lowers fluent strict significantly."""
    pts = r["points"]
    full = pts[0]
    first = next(p for p in pts if p["label"] == "first 1")
    hurts = [
        p["label"].removeprefix("without ")
        for p in pts
        if p["group"] == "drop"
        and above(full["fluent_strict"]["rate"], p["fluent_strict"]["rate"], p["paired_vs_full"]["fluent_strict"]["p"])
    ]
    return full, first, hurts


def _gain(full: AblationPoint, first: AblationPoint) -> tuple[float, float, float]:
    """All latents' and the first alone's fluent strict, and McNemar's p between them."""
    return full["fluent_strict"]["rate"], first["fluent_strict"]["rate"], first["paired_vs_full"]["fluent_strict"]["p"]


def ablation_claim(docs: Docs) -> str:
    results: dict[str, AblationResult] = typed_results(docs)
    parts = []
    for iid, r in results.items():
        full, first, hurts = _points(r)
        parts.append(
            f"`{iid}` all {len(full['latents'])} {pct(full['fluent_strict']['rate'])} vs the first alone "
            f"{pct(first['fluent_strict']['rate'])} (p {p_value(first['paired_vs_full']['fluent_strict']['p'])}); "
            f"dropping {', '.join(hurts) or 'no single latent'} lowers it significantly"
        )
    return (
        f"- **{CLAIM}** (drop-one / add-one on test contents, fluent strict; the "
        f"vector's norm grows with each latent added): {'; '.join(parts)}."
    )


def ablation_glance(docs: Docs) -> list[Glance]:
    """The claim at a glance: all latents vs the first alone, how often dropping one hurts, and the largest gain
    with its interval."""
    results: dict[str, AblationResult] = typed_results(docs)
    points = {i: _points(r) for i, r in results.items()}
    hits = sum(above(*_gain(full, first)) for full, first, _ in points.values())
    against = sum(above(one, all_, p) for all_, one, p in (_gain(f, o) for f, o, _ in points.values()))
    hurt = sum(bool(hurts) for _, _, hurts in points.values())
    top = max(points, key=lambda i: (g := _gain(*points[i][:2]))[0] - g[1])
    full, first, _ = points[top]
    return [
        Glance(
            f"{CLAIM} (drop-one / add-one; the norm grows with each latent)",
            "SAIF: several latents are needed, not one",
            f"all latents above the first alone (p < 0.05, fluent strict) for {hits} of {len(results)}, below for "
            f"{against}; dropping one latent lowers it for {hurt} of {len(results)}; largest `{top}` all "
            f"{len(full['latents'])} {rate_ci(full['fluent_strict'])} vs {pct(first['fluent_strict']['rate'])} "
            f"({n_each(r['n'] for r in results.values())})",
            tally(hits, len(results), against),
            FIGURE,
        )
    ]


def ablation_lines(docs: Docs) -> list[str]:
    results: dict[str, AblationResult] = typed_results(docs)
    columns = (
        "instruction", "variant", "latents", "vector norm", "success [95% CI]", "fluent strict [95% CI]",
        "p vs all (success / fluent strict)",
    )  # fmt: skip
    rows = [
        [f"`{iid}`", p["label"], ", ".join(map(str, p["latents"])), f"{p['norm']:.1f}",
         *rates_and_p(p, p["paired_vs_full"])]
        for iid, r in results.items()
        for p in r["points"]
    ]  # fmt: skip
    return table(columns, rows)


def ablation_plot(docs: Docs, path: Path) -> None:
    results: dict[str, AblationResult] = typed_results(docs)
    with figure(path, 1, 2, figsize=(9.0, 3.6), sharey=True) as (_, axes):
        for iid, r in results.items():
            pts = r["points"]
            full = pts[0]
            adds = [p for p in pts if p["group"] == "add"] + [full]
            axes[0].plot(
                range(1, len(adds) + 1), [100 * p["fluent_strict"]["rate"] for p in adds], marker="o", label=iid
            )
            drops = [p for p in pts if p["group"] == "drop"]
            axes[1].plot(
                range(1, len(drops) + 1),
                [100 * (p["fluent_strict"]["rate"] - full["fluent_strict"]["rate"]) for p in drops],
                marker="o",
                label=iid,
            )
        axes[0].set_xlabel("first i latents (discovery's order)")
        axes[0].set_ylabel("fluent strict on test, %")
        axes[1].set_xlabel("latent dropped (rank in discovery)")
        axes[1].set_ylabel("change vs all latents, points")
        axes[1].axhline(0, color="grey", lw=0.8)
        axes[0].legend(fontsize=7)


def ablation_section(docs: Docs, figs: Path) -> list[str]:
    """The drop-one / add-one section, with its figure."""
    return section(
        "Several latents vs one: drop-one and add-one",
        (
            "`python -m saif_ui ablation-study`: each recipe with several latents at its α, positions and decay, "
            "without each latent in turn and with its first i latents in discovery's order, on the test contents "
            "(the full recipe's answers read back from the steering study). Not norm-matched: the vector grows with "
            "each latent (its norm is shown); the norm-matched top-1 is in each instruction's table above."
        ),
        ablation_lines(docs),
        plotted(ablation_plot, docs, figs, FIGURE, "drop-one and add-one"),
    )
