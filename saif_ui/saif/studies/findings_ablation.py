"""The FINDINGS.md section of the drop-one / add-one study (several latents vs one): its claim line, table and
figure, from its shipped documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NotRequired, TypedDict

from saif_ui.saif.judge.stats import PairedDict
from saif_ui.saif.studies.findings_sections import (
    DerivedResult,
    Rate,
    figure,
    p_value,
    pct,
    plotted,
    rates_and_p,
    section,
    table,
    typed_results,
)
from saif_ui.saif.studies.study import Docs


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


def ablation_claim(docs: Docs) -> str:
    results: dict[str, AblationResult] = typed_results(docs)
    parts = []
    for iid, r in results.items():
        pts = r["points"]
        full = pts[0]
        first = next(p for p in pts if p["label"] == "first 1")
        hurts = [
            p["label"].removeprefix("without ")
            for p in pts
            if p["group"] == "drop"
            and p["paired_vs_full"]["fluent_strict"]["p"] < 0.05
            and p["fluent_strict"]["rate"] < full["fluent_strict"]["rate"]
        ]
        parts.append(
            f"`{iid}` all {len(full['latents'])} {pct(full['fluent_strict']['rate'])} vs the first alone "
            f"{pct(first['fluent_strict']['rate'])} (p {p_value(first['paired_vs_full']['fluent_strict']['p'])}); "
            f"dropping {', '.join(hurts) or 'no single latent'} lowers it significantly"
        )
    return (
        "- **SAIF: several latents steer better than one** (drop-one / add-one on test contents, fluent strict; the "
        f"vector's norm grows with each latent added): {'; '.join(parts)}."
    )


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
        plotted(ablation_plot, docs, figs, "ablation.png", "drop-one and add-one"),
    )
