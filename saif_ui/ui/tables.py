"""Library results as table rows (headers + rows of plain values), for the dashboard's dataframes and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from saif_ui.service import (
    MODES,
    QUALITY_COLUMNS,
    Ablation,
    Comparison,
    DiscoveryResult,
    Evaluation,
    LatentCard,
    Session,
    SpecialGrid,
    Summary,
)
from saif_ui.ui import figures


@dataclass(frozen=True)
class Table:
    """A table as shown and as exported: column names and rows of JSON-able cells."""

    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.headers)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.headers)
        writer.writerows(self.rows)
        return out.getvalue()


LATENT_HEADERS = [
    "rank", "latent", "label (top contexts)", "score", "freq +", "freq −", "mean +", "mean −", "flags", "logit lens",
]  # fmt: skip


def _lens(tokens: Sequence[str]) -> str:
    return " ".join(repr(t) for t in tokens)


def latent_table(discovery: DiscoveryResult | None, flagged: bool = False) -> Table:
    """The ranked instruction-relevant latents (or, with `flagged`, the special-token and dense ones ranked apart)."""
    if not discovery:
        return Table(LATENT_HEADERS)
    rows = [
        [
            rank,
            r.id,
            r.label or "–",
            round(r.score, 3),
            round(r.freq_pos, 3),
            round(r.freq_neg, 3),
            round(r.mean_pos, 3),
            round(r.mean_neg, 3),
            ",".join(r.flags),
            _lens(r.logit_tokens),
        ]
        for rank, r in enumerate(discovery.flagged if flagged else discovery.latents, start=1)
    ]
    return Table(LATENT_HEADERS, rows)


def lens_table(card: LatentCard | None) -> Table:
    """Logit-lens tokens a latent promotes and suppresses, side by side."""
    headers = ["promotes", "cos +", "suppresses", "cos −"]
    if not card:
        return Table(headers)
    lens = card.logit_lens
    rows = [
        [p.token, round(p.cosine, 3), s.token, round(s.cosine, 3)]
        for p, s in zip(lens.promoted, lens.suppressed, strict=False)
    ]
    return Table(headers, rows)


def neighbour_table(card: LatentCard | None, discovery: DiscoveryResult | None = None) -> Table:
    """Decoder-space neighbours of a latent, marking those that are also instruction-relevant."""
    headers = ["latent", "cosine", "instruction rank"]
    if not card:
        return Table(headers)
    rank = {i: k for k, i in enumerate(discovery.ids if discovery else [], start=1)}
    rows = [[n.id, round(n.cosine, 3), rank.get(n.id, "")] for n in card.neighbours if n.id != card.id]
    return Table(headers, rows)


def word_table(card: LatentCard | None) -> Table:
    headers = ["instruction word", "cosine"]
    if not card:
        return Table(headers)
    return Table(headers, [[w.word, round(w.cosine, 3)] for w in card.instruction_words])


SWEEP_HEADERS = [
    "α",
    "fluent strict",
    "strict",
    "loose",
    "perplexity (median)",
    "repetition",
    "n",
    "fluent strict 95% CI",
    "p vs original",
    "p vs prompted",
]


def sweep_table(evaluation: Evaluation | None) -> Table:
    """One row per α and per baseline: compliance (fluent strict = strict and not a loop) and fluency."""
    if not evaluation:
        return Table(SWEEP_HEADERS)

    def cells(label: Any, s: Summary, p: dict[str, Any]) -> list[Any]:
        low, high = s.ci(s.fluent_strict)
        return [
            label,
            _round(s.fluent_strict),
            _round(s.strict),
            _round(s.loose),
            _round(s.perplexity, 2),
            _round(s.repetition),
            s.n,
            f"[{100 * low:.0f}, {100 * high:.0f}]%",
            *(p.get(name, "") for name in ("original", "prompted")),
        ]

    def pvalues(alpha: float) -> dict[str, Any]:
        """McNemar's exact p of fluent strict against each baseline, on the same contents."""
        return {name: _round(evaluation.paired(alpha, name).p, 4) for name in evaluation.baselines}

    rows = [cells(a, evaluation.summary(a), pvalues(a)) for a in sorted(evaluation.alphas)]
    rows += [cells(name, evaluation.baseline(name), {}) for name in evaluation.baselines]
    return Table(SWEEP_HEADERS, rows)


def sweep_plot(evaluation: Evaluation | None) -> Any:
    """The sweep's figure: compliance and fluency per α (fluent strict with its 95% Wilson interval), the baselines'
    fluent strict rates as levels."""
    if not evaluation:
        return figures.sweep_figure([], {}, [], [], {})
    alphas = sorted(evaluation.alphas)
    s = [evaluation.summary(a) for a in alphas]
    return figures.sweep_figure(
        alphas,
        {"fluent_strict": [x.fluent_strict for x in s], "strict": [x.strict for x in s], "loose": [x.loose for x in s]},
        [x.perplexity for x in s],
        [x.repetition for x in s],
        {
            name: evaluation.baseline(name).fluent_strict
            for name in ("original", "prompted")
            if name in evaluation.baselines
        },
        {"fluent_strict": [x.ci(x.fluent_strict) for x in s]},
    )


def _round(value: Any, digits: int = 3) -> Any:
    return round(value, digits) if isinstance(value, int | float) and not isinstance(value, bool) else value


def grid_table(grid: SpecialGrid | None) -> Table:
    """The special-token intervention grid: α, the answer it gives, and verdicts when an instruction judged them."""
    judged = bool(grid and grid.judged)
    headers = ["α", "answer", *(["strict", "loose"] if judged else [])]
    rows = [[r.alpha, r.text, *([r.strict, r.loose] if judged else [])] for r in (grid.rows if grid else ())]
    return Table(headers, rows)


def quality_table(reports: Mapping[str, Mapping[str, Any] | None]) -> Table:
    """One row per SAE with FAST's quality metrics; '–' where an SAE has no report."""
    headers = ["SAE", *(title for _, title, _ in QUALITY_COLUMNS)]
    rows = []
    for name, report in reports.items():
        cells: list[Any] = [name]
        for key, _, digits in QUALITY_COLUMNS:
            value = (report or {}).get(key)
            cells.append(round(value, digits) if isinstance(value, int | float) else "–")
        rows.append(cells)
    return Table(headers, rows)


def special_latent_table(report: Mapping[str, Any] | None) -> Table:
    """Per special token (`<|im_start|>`, role words ...), the latents with the largest average max activation."""
    headers = ["special token", "latent", "avg max activation"]
    if not report:
        return Table(headers)
    rows = [
        [token, item["id"], item["avg_max"]]
        for token, items in (report.get("special_token_latents") or {}).items()
        for item in items
    ]
    return Table(headers, rows)


def sae_table(saes: Sequence[Mapping[str, Any]]) -> Table:
    """The attached SAEs (`backend.saes.table_rows`), each with where it comes from."""
    headers = ["SAE", "layer", "latents", "architecture", "hook", "origin"]
    return Table(
        headers, [[s["name"], s["layer"], s["d_sae"], s["architecture"], s["hook_name"], s["origin"]] for s in saes]
    )


def compare_table(comparison: Comparison | None) -> Table:
    """Each mode of a comparison with its verdicts and fluency."""
    headers = ["mode", "answer", "strict", "loose", "perplexity", "repetition"]
    rows = []
    for mode in MODES:
        out = comparison.outputs.get(mode) if comparison else None
        if out:
            rows.append([mode, out.text, out.strict, out.loose, _round(out.perplexity, 2), _round(out.repetition)])
    return Table(headers, rows)


def ablation_plot(ablation: Ablation) -> Any:
    """The ablation's figure: each point as (label, rate, low, high)."""

    def points(items: Sequence[Any]) -> list[tuple[str, float, float, float]]:
        return [(p.label, p.rate, p.low, p.high) for p in items]

    return figures.ablation_figure(
        points(ablation.drop_one), points(ablation.add_one), ablation.full.rate, ablation.baseline.rate, ablation.metric
    )


JOINT_HEADERS = ["answers", "weights", "success", "95% CI", "both followed", "first", "second", "repeated", "chrF"]
"""The joint sweep's columns; "first" and "second" are named after the two instructions when a sweep is shown."""


def joint_table(data: Mapping[str, Any] | None) -> Table:
    """A joint sweep (`Backend.sweep_joint`): the baselines, then every cell of weights."""
    if not data:
        return Table(JOINT_HEADERS)
    first, second = data["instructions"]

    def row(name: str, weights: str, block: Mapping[str, Any]) -> list[Any]:
        low, high = block["success"]["ci"]
        return [
            name,
            weights,
            f"{100 * block['success']['rate']:.0f}% ({block['success']['k']}/{block['success']['n']})",
            f"{100 * low:.0f}–{100 * high:.0f}%",
            f"{100 * block['joint_strict']['rate']:.0f}% ({block['joint_strict']['k']}/{block['joint_strict']['n']})",
            f"{100 * block['each'][first]['rate']:.0f}%",
            f"{100 * block['each'][second]['rate']:.0f}%",
            f"{100 * block['repetition']:.0f}%",
            block["chrf_prompted"],
        ]

    rows = [row(name.replace("_", " "), "–", block) for name, block in data["baselines"].items()]
    rows += [row("steered", " × ".join(f"{w:g}" for w in c["weights"]), c) for c in data["cells"]]
    return Table([*JOINT_HEADERS[:5], first, second, *JOINT_HEADERS[7:]], rows)


def ablation_table(ablation: Ablation | None) -> Table:
    """The ablation's points as rows: the full spec, the unsteered baseline, each drop-one and each add-one."""
    headers = ["curve", "variant", "latents", ablation.metric if ablation else "rate", "95% low", "95% high", "n"]
    if not ablation:
        return Table(headers)
    points = [("full", ablation.full), ("unsteered", ablation.baseline)]
    points += [("drop-one", p) for p in ablation.drop_one] + [("add-one", p) for p in ablation.add_one]
    rows = [
        [curve, p.label, " ".join(map(str, p.latents)), round(p.rate, 4), round(p.low, 4), round(p.high, 4), p.n]
        for curve, p in points
    ]
    return Table(headers, rows)


LAYER_HEADERS = ["sae", "layer", "rank", "latent", "label (top contexts)", "score", "steered answer", "strict"]


def layers_table(data: Mapping[str, Any] | None) -> Table:
    """A layer comparison (`LayerComparison.to_dict()`): each SAE's ranked latents, with the answer it steered."""
    if not data:
        return Table(LAYER_HEADERS)
    rows = []
    for side in data["sides"]:
        for rank, r in enumerate(side["discovery"]["latents"], start=1):
            steered = side["steered"]
            rows.append(
                [side["sae"], side["layer"], rank, r["id"], r.get("label") or "–", round(r["score"], 3),
                 steered["text"] if rank == 1 else "", steered["strict"] if rank == 1 else ""]
            )  # fmt: skip
    return Table(LAYER_HEADERS, rows)


def session_tables(session: Session) -> dict[str, Table]:
    """Every non-empty table of a visitor's session, by file stem (for CSV export)."""
    tables = {
        "latents": latent_table(session.discovery),
        "flagged_latents": latent_table(session.discovery, flagged=True),
        "logit_lens": lens_table(session.card),
        "neighbours": neighbour_table(session.card, session.discovery),
        "instruction_words": word_table(session.card),
        "comparison": compare_table(session.comparison),
        "sweep": sweep_table(session.evaluation),
        "special_token_grid": grid_table(session.grid),
        "ablation": ablation_table(session.ablation),
        "joint_sweep": joint_table(session.extra.get("joint_sweep")),
        "layer_comparison": layers_table(session.extra.get("layer_comparison")),
    }
    return {name: t for name, t in tables.items() if t.rows}
