"""The FINDINGS.md section of FAST's special-token steering study: its claim line and tables, from its shipped
documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypedDict

from saif_ui.saif.studies.findings_sections import SIGNIFICANT, n_each, p_value, pct, section, table, tally
from saif_ui.saif.studies.study import Docs, Glance

CLAIM = (
    "FAST: steering with a special-token latent gives more polite, structured answers at moderate α and degrades at "
    "large α"
)
Measure = Literal["structured", "polite", "loop", "changed"]
MEASURES: tuple[Measure, ...] = ("structured", "polite", "loop", "changed")
"""The special-token study's measures of an answer, in its table's order."""


class MeasureRate(TypedDict):
    rate: float
    ci: list[float]


class SpecialBlock(TypedDict):
    n: int
    texts: list[str]
    structured: MeasureRate
    polite: MeasureRate
    loop: MeasureRate
    changed: MeasureRate
    words: float


class SpecialRow(TypedDict):
    alpha: float
    special: SpecialBlock
    random: SpecialBlock
    paired: dict[str, float]


class SpecialResult(TypedDict):
    """A shipped result of the special-token study (`special_study.run_sae`)."""

    sae: str
    layer: int
    latent: int
    token: str
    random_latent: int
    contents: list[str]
    rows: list[SpecialRow]


def special_lines(docs: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for sae, doc in docs.items():
        r: SpecialResult = doc["result"]
        n = r["rows"][0]["special"]["n"]
        lines += [
            f"### {sae}: latent {r['latent']} (fires on `{r['token']}`) vs random latent {r['random_latent']}, "
            f"n = {n} test contents",
            "",
        ]
        columns = ("α", *(f"{m}: special / random (p)" for m in MEASURES), "words: special / random")
        rows = [
            [
                f"{row['alpha']:g}",
                *(
                    f"{pct(row['special'][m]['rate'])} / {pct(row['random'][m]['rate'])} ({p_value(row['paired'][m])})"
                    for m in MEASURES
                ),
                f"{row['special']['words']:.0f} / {row['random']['words']:.0f}",
            ]
            for row in r["rows"]
        ]
        lines += [*table(columns, rows), ""]
    return lines


def _above_random(rows: list[SpecialRow], measure: Measure) -> list[str]:
    """The α > 0 at which the special latent's answers show `measure` significantly more often than the random
    latent's (McNemar p < 0.05)."""
    return [
        f"α={row['alpha']:g}"
        for row in rows
        if row["alpha"] > 0
        and row["paired"][measure] < SIGNIFICANT
        and row["special"][measure]["rate"] > row["random"][measure]["rate"]
    ]


def _loops(rows: list[SpecialRow]) -> list[str]:
    """The α at which half or more of the special latent's answers loop."""
    return [f"α={row['alpha']:g}" for row in rows if row["special"]["loop"]["rate"] >= 0.5]


def special_claim(docs: dict[str, dict[str, Any]]) -> str:
    parts = []
    for sae, doc in docs.items():
        result: SpecialResult = doc["result"]
        rows = result["rows"]
        better, polite = _above_random(rows, "structured"), _above_random(rows, "polite")
        loops = _loops(rows)
        last = rows[-1]
        parts.append(
            f"{sae} (`{result['token']}`): more structured than the random latent at "
            f"{', '.join(better) or 'no α'}, more polite at {', '.join(polite) or 'no α'} (McNemar p < 0.05); half "
            f"or more of the answers loop at {', '.join(loops) or 'no α'}; mean length "
            f"{rows[0]['special']['words']:.0f} → {last['special']['words']:.0f} words at α={last['alpha']:g} "
            f"(random latent: {last['random']['words']:.0f})"
        )
    return f"- **{CLAIM}** — {'; '.join(parts)}."


def special_glance(docs: Docs) -> list[Glance]:
    """The claim at a glance: how many SAEs' special latents beat a random latent on structure or politeness at some
    α (the largest such difference with its interval), and how many loop."""
    results: dict[str, SpecialResult] = {sae: d["result"] for sae, d in docs.items()}
    shown = [sae for sae, r in results.items() if any(_above_random(r["rows"], m) for m in MEASURES[:2])]
    looping = [sae for sae, r in results.items() if _loops(r["rows"])]
    best = ""
    if shown:
        sae, row, measure = max(
            (
                (sae, row, m)
                for sae in shown
                for m in MEASURES[:2]
                for row in results[sae]["rows"]
                if f"α={row['alpha']:g}" in _above_random(results[sae]["rows"], m)
            ),
            key=lambda t: t[1]["special"][t[2]]["rate"] - t[1]["random"][t[2]]["rate"],
        )
        low, high = row["special"][measure]["ci"]
        best = (
            f"; largest {sae} {measure} {pct(row['special'][measure]['rate'])} [{100 * low:.0f}, {100 * high:.0f}] "
            f"vs {pct(row['random'][measure]['rate'])} at α={row['alpha']:g}"
        )
    n = n_each((r["rows"][0]["special"]["n"] for r in results.values()), "test contents")
    return [
        Glance(
            CLAIM,
            "FAST: more polite, structured answers at moderate α, degraded at large α (judged by eye)",
            f"more structured or polite than a random latent (p < 0.05) at some α for {len(shown)} of "
            f"{len(results)} SAEs{best}; half or more of the answers loop at some α for {len(looping)} of "
            f"{len(results)} ({n})",
            tally(len(shown), len(results)),
        )
    ]


def special_section(docs: Docs, figs: Path) -> list[str]:
    """The special-token steering section."""
    return section(
        "Special-token steering (FAST)",
        (
            "Test contents answered without any instruction; each SAE's strongest special-token latent added at "
            "FAST's α grid (unit direction × α) beside a random latent of the same SAE at the same α "
            "(`python -m saif_ui special-study`). Measures: `structured` (a list or a heading), `polite` (a word of a "
            "small politeness lexicon), `loop` (repetition above 0.5), `changed` (differs from the unsteered answer); "
            "McNemar's exact p of special vs random in brackets. Every text is in the shipped results."
        ),
    ) + special_lines(docs)
