"""Library results as table rows (headers + rows of plain values), for the dashboard's dataframes and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from saif_ui.fast.summary import COLUMNS as QUALITY_COLUMNS


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


LATENT_HEADERS = ["rank", "latent", "score", "freq +", "freq −", "mean +", "mean −", "flags", "logit lens"]


def _lens(tokens: Sequence[str]) -> str:
    return " ".join(repr(t) for t in tokens)


def latent_table(discovery: Mapping[str, Any] | None, flagged: bool = False) -> Table:
    """The ranked instruction-relevant latents (or, with `flagged`, the special-token and dense ones ranked apart)."""
    if not discovery:
        return Table(LATENT_HEADERS)
    rows = [
        [
            rank,
            r["id"],
            round(r["score"], 3),
            round(r["freq_pos"], 3),
            round(r["freq_neg"], 3),
            round(r["mean_pos"], 3),
            round(r["mean_neg"], 3),
            ",".join(r["flags"]),
            _lens(r["logit_tokens"]),
        ]
        for rank, r in enumerate(discovery["flagged" if flagged else "latents"], start=1)
    ]
    return Table(LATENT_HEADERS, rows)


def lens_table(card: Mapping[str, Any] | None) -> Table:
    """Logit-lens tokens a latent promotes and suppresses, side by side."""
    headers = ["promotes", "cos +", "suppresses", "cos −"]
    if not card:
        return Table(headers)
    lens = card["logit_lens"]
    rows = [
        [p["token"], round(p["cosine"], 3), s["token"], round(s["cosine"], 3)]
        for p, s in zip(lens["promoted"], lens["suppressed"], strict=False)
    ]
    return Table(headers, rows)


def neighbour_table(card: Mapping[str, Any] | None, discovery: Mapping[str, Any] | None = None) -> Table:
    """Decoder-space neighbours of a latent, marking those that are also instruction-relevant."""
    headers = ["latent", "cosine", "instruction rank"]
    if not card:
        return Table(headers)
    rank = {r["id"]: k for k, r in enumerate((discovery or {}).get("latents", []), start=1)}
    rows = [
        [n["id"], round(n["cosine"], 3), rank.get(n["id"], "")] for n in card["neighbours"] if n["id"] != card["id"]
    ]
    return Table(headers, rows)


def word_table(card: Mapping[str, Any] | None) -> Table:
    headers = ["instruction word", "cosine"]
    if not card:
        return Table(headers)
    return Table(headers, [[w["word"], round(w["cosine"], 3)] for w in card.get("instruction_words", [])])


SWEEP_HEADERS = ["α", "fluent strict", "strict", "loose", "perplexity (median)", "repetition"]


def sweep_table(evaluation: Mapping[str, Any] | None) -> Table:
    """One row per α and per baseline: compliance (fluent strict = strict and not a loop) and fluency."""
    if not evaluation:
        return Table(SWEEP_HEADERS)

    def cells(label: Any, r: Mapping[str, Any]) -> list[Any]:
        flu = r.get("fluency") or {}
        return [
            label,
            _round(r.get("fluent_strict")),
            _round(r.get("strict")),
            _round(r.get("loose")),
            _round(flu.get("perplexity"), 2),
            _round(flu.get("repetition")),
        ]

    rows = [cells(r["alpha"], r) for r in sorted(evaluation.get("results", []), key=lambda r: r["alpha"])]
    rows += [cells(name, b) for name, b in (evaluation.get("baselines") or {}).items()]
    return Table(SWEEP_HEADERS, rows)


def _round(value: Any, digits: int = 3) -> Any:
    return round(value, digits) if isinstance(value, int | float) and not isinstance(value, bool) else value


def grid_table(grid: Mapping[str, Any] | None) -> Table:
    """The special-token intervention grid: α, the answer it gives, and verdicts when an instruction judged them."""
    rows = list((grid or {}).get("rows", []))
    judged = any("strict" in r for r in rows)
    headers = ["α", "answer", *(["strict", "loose"] if judged else [])]
    return Table(
        headers, [[r["alpha"], r["text"], *([r.get("strict"), r.get("loose")] if judged else [])] for r in rows]
    )


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
    """The attached SAEs (from `Engine.info()["saes"]`)."""
    headers = ["SAE", "layer", "latents", "architecture", "hook", "source"]
    return Table(
        headers, [[s["name"], s["layer"], s["d_sae"], s["architecture"], s["hook_name"], s["source"]] for s in saes]
    )


def compare_table(comparison: Mapping[str, Any] | None) -> Table:
    """Each mode of a comparison with its verdicts and fluency (cells left empty where a record lacks them)."""
    headers = ["mode", "answer", "strict", "loose", "perplexity", "repetition"]
    rows = []
    for mode in ("original", "steered", "prompted", "prompted_steered"):
        out = (comparison or {}).get(mode)
        if out:
            fluency = [_round(out.get("perplexity"), 2), _round(out.get("repetition"))]
            rows.append([mode, out.get("text", ""), out.get("strict"), out.get("loose"), *fluency])
    return Table(headers, rows)
