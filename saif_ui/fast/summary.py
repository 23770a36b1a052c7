"""Markdown tables of SAE quality reports (for docs/FAST.md and the SAE tab), from manifests on disk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COLUMNS = [
    ("log2_mse", "log2 MSE", 3),
    ("log2_mse_st", "log2 MSE_st", 3),
    ("explained_variance", "EV", 3),
    ("l0", "L0", 1),
    ("dead_fraction", "dead", 3),
    ("dense_fraction", "dense", 3),
    ("delta_ce", "ΔCE (nats)", 3),
    ("delta_lm_loss_percent", "ΔLM-loss %", 1),
    ("loss_recovered", "loss recovered", 3),
]


def _number(value: Any, digits: int, unit: str = "") -> str:
    """A table cell: the number rounded, or a dash where the report has none."""
    return f"{value:.{digits}f}{unit}" if isinstance(value, int | float) else "–"


def quality_table(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per SAE: FAST's metrics (log2 MSE, log2 MSE_st) and EV, L0, dead/dense, ΔCE."""
    header = "| SAE | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    rows = []
    for name, r in reports.items():
        cells = [_number(r.get(key), digits) for key, _, digits in COLUMNS]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows])


RERUN_COLUMNS = [
    next(c for c in COLUMNS if c[0] == key)
    for key in ("explained_variance", "log2_mse", "log2_mse_st", "l0", "dead_fraction", "delta_ce")
]
"""The quality columns a re-run is compared on, titled and rounded as in `quality_table`."""


def rerun_table(abouts: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per SAE whose recipe was re-run for its curve (`fast.recipe_curve`): each metric as shipped → re-run,
    the re-run's steps and time, and whether its weights came out bit-identical to the shipped ones."""
    header = "| SAE | " + " | ".join(f"{title} shipped → re-run" for _, title, _ in RERUN_COLUMNS)
    header += " | steps | time | same weights | largest weight difference |"
    rule = "|---|" + "---:|" * (len(RERUN_COLUMNS) + 2) + "---|---:|"
    rows = []
    for name, about in abouts.items():
        q = about.get("quality", {})
        cells = [
            " → ".join(_number(q.get(side, {}).get(key), digits) for side in ("shipped", "rerun"))
            for key, _, digits in RERUN_COLUMNS
        ]
        diffs = about.get("max_abs_weight_difference", {})
        largest = max(diffs.values(), default=None)
        cells += [
            str(about.get("steps", "–")),
            _number(about.get("seconds"), 0, " s"),
            "yes" if about.get("weights_identical") else "no",
            _number(largest, 4),
        ]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows])
