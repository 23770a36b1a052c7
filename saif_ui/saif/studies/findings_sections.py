"""The number formats of FINDINGS.md, and the sections of the studies beside the steering study: semantic
proximity and FAST's special-token steering (their tables and claim lines), each from its shipped documents."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from saif_ui.saif.studies.study import Docs

Measure = Literal["structured", "polite", "loop", "changed"]
MEASURES: tuple[Measure, ...] = ("structured", "polite", "loop", "changed")
"""The special-token study's measures of an answer, in its table's order."""


class Rate(TypedDict):
    """A rate of verdicts with its 95 % Wilson interval (`steering_study.rate`, `joint_eval.rate`)."""

    rate: float
    ci: list[float]
    n: int
    k: NotRequired[int]


class ProximityLatent(TypedDict):
    latent: int
    score: float | None
    percentile: float | None


class ProximityResult(TypedDict):
    """A shipped result of the proximity study (`proximity_study.run_instruction`)."""

    instruction: str
    sae: str
    n_prompts: int
    selected: list[ProximityLatent]
    selected_mean: float | None
    random_mean: float | None
    random_quantiles: dict[str, float]
    n_random: int
    mann_whitney_p: float
    random_latents: list[int]


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


def section(title: str, intro: str, *blocks: list[str]) -> list[str]:
    """A FINDINGS.md section: its heading, its introduction and each block of lines, a blank line after each."""
    md = [f"## {title}", "", intro, ""]
    for block in blocks:
        md += [*block, ""]
    return md


def table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A Markdown table: the header of `columns`, the rule under it, then a line of cells per row."""
    return [_cells(columns), "|" + "---|" * len(columns), *(_cells(row) for row in rows)]


def _cells(row: Sequence[object]) -> str:
    return "| " + " | ".join(map(str, row)) + " |"


@contextmanager
def figure(path: Path, *args: Any, **kwargs: Any) -> Iterator[tuple[Any, Any]]:
    """`plt.subplots(*args, **kwargs)` for the block, then laid out tight, saved to `path` (its folder made) at
    110 dpi and closed. Agg: FINDINGS.md is written where no display exists."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(*args, **kwargs)
    try:
        yield fig, axes
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def ci(block: Mapping[str, Any], rate: str = "success") -> str:
    low, high = block["ci"][rate]
    return f"{100 * block[rate]:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"


def p_value(x: float) -> str:
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def quote(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return ((text[:limit] + "…") if len(text) > limit else text).replace("|", "∣")


def special_lines(docs: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for sae, doc in docs.items():
        r: SpecialResult = doc["result"]
        n = r["rows"][0]["special"]["n"]
        lines += [
            f"### {sae}: latent {r['latent']} (fires on `{r['token']}`) vs random latent {r['random_latent']}, "
            f"n = {n} test contents",
            "",
            "| α | " + " | ".join(f"{m}: special / random (p)" for m in MEASURES) + " | words: special / random |",
            "|---|" + "---|" * (len(MEASURES) + 1),
        ]
        for row in r["rows"]:
            cells = [
                f"{pct(row['special'][m]['rate'])} / {pct(row['random'][m]['rate'])} ({p_value(row['paired'][m])})"
                for m in MEASURES
            ]
            lines.append(
                f"| {row['alpha']:g} | " + " | ".join(cells) + f" | {row['special']['words']:.0f} / "
                f"{row['random']['words']:.0f} |"
            )
        lines.append("")
    return lines


def special_claim(docs: dict[str, dict[str, Any]]) -> str:
    parts = []
    for sae, doc in docs.items():
        result: SpecialResult = doc["result"]
        rows = result["rows"]
        better = [
            f"α={row['alpha']:g}"
            for row in rows
            if row["alpha"] > 0
            and row["paired"]["structured"] < 0.05
            and row["special"]["structured"]["rate"] > row["random"]["structured"]["rate"]
        ]
        polite = [
            f"α={row['alpha']:g}"
            for row in rows
            if row["alpha"] > 0
            and row["paired"]["polite"] < 0.05
            and row["special"]["polite"]["rate"] > row["random"]["polite"]["rate"]
        ]
        loops = [f"α={row['alpha']:g}" for row in rows if row["special"]["loop"]["rate"] >= 0.5]
        last = rows[-1]
        parts.append(
            f"{sae} (`{result['token']}`): more structured than the random latent at "
            f"{', '.join(better) or 'no α'}, more polite at {', '.join(polite) or 'no α'} (McNemar p < 0.05); half "
            f"or more of the answers loop at {', '.join(loops) or 'no α'}; mean length "
            f"{rows[0]['special']['words']:.0f} → {last['special']['words']:.0f} words at α={last['alpha']:g} "
            f"(random latent: {last['random']['words']:.0f})"
        )
    return (
        "- **FAST: steering with a special-token latent gives more polite, structured answers at moderate α and "
        f"degrades at large α** — {'; '.join(parts)}."
    )


def proximity_claim(docs: Docs) -> str:
    results: dict[str, ProximityResult] = {i: d["result"] for i, d in docs.items()}
    parts = [
        f"`{i}` {r['selected_mean']} vs {r['random_mean']} (p {p_value(r['mann_whitney_p'])})"
        for i, r in results.items()
    ]
    close = [i for i, r in results.items() if r["mann_whitney_p"] < 0.05]
    return (
        "- **SAIF: the selected latents are semantically close to the instruction** — share of test prompts "
        "where a latent fires more on the instruction's own tokens than on the content's, the recipe's latents "
        f"vs random latents of the same SAE: {'; '.join(parts)}. Closer than random (p < 0.05) for "
        f"{len(close)} of {len(docs)} instructions ({', '.join(close) or 'none'})."
    )


def proximity_lines(docs: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| instruction | SAE | prompts | selected latents: score (percentile among random) | selected mean "
        "| random mean (n) | Mann-Whitney p |",
        "|---|---|---|---|---|---|---|",
    ]
    for iid, doc in docs.items():
        r: ProximityResult = doc["result"]
        cells = ", ".join(
            f"{s['latent']}: "
            + (f"{score:.2f} ({100 * share:.0f}%)" if score is not None and share is not None else "–")
            for s in r["selected"]
            for score, share in [(s["score"], s["percentile"])]
        )
        lines.append(
            f"| `{iid}` | {r['sae']} | {r['n_prompts']} | {cells} | {r['selected_mean']} "
            f"| {r['random_mean']} ({r['n_random']}) | {p_value(r['mann_whitney_p'])} |"
        )
    return lines


def proximity_section(docs: Docs, figs: Path) -> list[str]:
    """The semantic-proximity section."""
    return section(
        "Semantic proximity of the selected latents",
        (
            "Test contents followed by the instruction, each wording in turn (`python -m saif_ui proximity-study`). "
            "A latent's score is the share of prompts where its maximum over the instruction's tokens exceeds its "
            "maximum over the content's; the recipe's latents are compared with random latents of the same SAE that "
            "fire on these prompts (one-sided Mann-Whitney U). Discovery chose the latents by their activation at the "
            "last prompt token, not on the instruction's tokens, so this is not the selection criterion read back."
        ),
        proximity_lines(docs),
    )


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
