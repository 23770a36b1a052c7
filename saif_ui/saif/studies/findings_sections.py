"""The shapes and number formats every FINDINGS.md section shares: a section, a table, a figure, rates with their
intervals, p-values, a claim's verdict at a glance, and the parts of the shipped results that several studies carry
(each study's own section is in `findings_<study>.py`)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from saif_ui.saif.judge.stats import PairedDict
from saif_ui.saif.studies.study import ClaimVerdict, Docs


class Rate(TypedDict):
    """A rate of verdicts with its 95 % Wilson interval (`steering_study.rate`, `joint_eval.rate`)."""

    rate: float
    ci: list[float]
    n: int
    k: NotRequired[int]


class DerivedResult(TypedDict):
    """What every derived study's result begins with (`derived.Item.header`): the instruction, its test contents and
    the recipe's summary."""

    instruction: str
    n: int
    contents: list[str]
    recipe: dict[str, Any]


class Candidate(TypedDict):
    """One validation point of the search (`recipe_search.Candidate` as a dict)."""

    layer: int
    k: int
    alpha: float
    successes: int
    n: int
    fluent: int
    strict: int


GAIN = 0.30
"""The bar every steering claim is held to (issue 11): the headline rate at least this much above the unsteered
(`original`) rate, with the 95 % interval's lower bound above it."""


def clears_bar(rate: float, low: float, original: float) -> bool:
    """Whether a success `rate` (its interval's lower bound `low`) clears the bar over the unsteered rate."""
    return rate - original >= GAIN and low > original


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


def fold(summary: str, lines: Sequence[str]) -> list[str]:
    """`lines` folded under a one-line `summary`: a `<details>` block with blank lines around the Markdown inside, so
    GitHub and the app's Markdown still render it (a block of HTML ends at a blank line)."""
    body = list(lines)
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    return [f"<details><summary>{summary_html(summary)}</summary>", "", *body, "", "</details>", ""]


def summary_html(text: str) -> str:
    """A line of Markdown as the HTML of a `<summary>` (where neither GitHub nor the app renders Markdown): escaped,
    with its inline code and bold kept."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)


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


def plotted(plot: Callable[[Docs, Path], None], docs: Docs, figs: Path, name: str, alt: str) -> list[str]:
    """Draw `plot` of `docs` into `figs / name` and give the Markdown line that shows it (FINDINGS.md sits beside its
    figures/ folder), so a figure's file is named once."""
    plot(docs, figs / name)
    return [f"![{alt}](figures/{name})"]


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


def typed_results(docs: Docs) -> dict[str, Any]:
    """Each document's result by item (typed by the caller's annotation)."""
    return {i: d["result"] for i, d in docs.items()}


def p_pair(paired: Mapping[str, PairedDict]) -> str:
    """McNemar's p of success / of fluent strict."""
    return f"{p_value(paired['success']['p'])} / {p_value(paired['fluent_strict']['p'])}"


def rates_and_p(block: Mapping[str, Any], paired: Mapping[str, PairedDict]) -> list[str]:
    """The cells of a point measured on test: success and fluent strict with their intervals, then their p."""
    return [rate_ci(block["success"]), rate_ci(block["fluent_strict"]), p_pair(paired)]


def rate_ci(block: Rate) -> str:
    low, high = block["ci"]
    return f"{100 * block['rate']:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"


SIGNIFICANT = 0.05
"""The p below which a paired difference counts for or against a claim at a glance (as in the claim lines)."""


def above(a: float, b: float, p: float) -> bool:
    """`a` significantly above `b` on the same items: higher, with the paired test's p under `SIGNIFICANT`."""
    return a > b and p < SIGNIFICANT


def tally(hits: int, n: int, against: int = 0, *, question: bool = False) -> ClaimVerdict:
    """A claim's verdict from its `n` items: `hits` show it (significantly), `against` show the opposite. A seed
    paper's claim is *reproduced* when every item shows it, *mixed* when some show each way, *partial* when some show
    it and none the opposite, *not reproduced* when none shows it; a `question` of this project's own is *supported*
    (every item), *mixed* (some) or *not supported* (none).

    Example: `tally(4, 7)` is "partial"; `tally(0, 7, 1)` is "not reproduced"."""
    if question:
        return "supported" if 0 < hits == n else ("mixed" if hits else "not supported")
    if 0 < hits == n:
        return "reproduced"
    if hits:
        return "mixed" if against else "partial"
    return "not reproduced"


def n_each(ns: Iterable[int], unit: str = "") -> str:
    """'n = 96 each', or the range when the items' n differ ('n = 48–96 each'); `unit` names what is counted
    ('n = 96 prompts each')."""
    values = sorted(set(ns))
    unit = f" {unit}" if unit else ""
    if not values:
        return f"n = 0{unit}"
    return f"n = {values[0]}{unit} each" if len(values) == 1 else f"n = {values[0]}–{values[-1]}{unit} each"
