"""The FINDINGS.md section of the semantic-proximity study: its claim line and table, from its shipped documents."""

from __future__ import annotations

from pathlib import Path
from statistics import median
from typing import Any, TypedDict

from saif_ui.saif.studies.findings_sections import SIGNIFICANT, n_each, p_value, section, table, tally
from saif_ui.saif.studies.study import Docs, Glance


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


CLAIM = "SAIF: the selected latents are semantically close to the instruction"


def _close(results: dict[str, ProximityResult]) -> list[str]:
    """The instructions whose recipe's latents are closer to the instruction than random latents (the one-sided
    test's p under 0.05)."""
    return [i for i, r in results.items() if r["mann_whitney_p"] < SIGNIFICANT]


def proximity_claim(docs: Docs) -> str:
    results: dict[str, ProximityResult] = {i: d["result"] for i, d in docs.items()}
    parts = [
        f"`{i}` {r['selected_mean']} vs {r['random_mean']} (p {p_value(r['mann_whitney_p'])})"
        for i, r in results.items()
    ]
    close = _close(results)
    return (
        f"- **{CLAIM}** — share of test prompts "
        "where a latent fires more on the instruction's own tokens than on the content's, the recipe's latents "
        f"vs random latents of the same SAE: {'; '.join(parts)}. Closer than random (p < 0.05) for "
        f"{len(close)} of {len(docs)} instructions ({', '.join(close) or 'none'})."
    )


def proximity_glance(docs: Docs) -> list[Glance]:
    """The claim at a glance: how many instructions' latents are closer than random, and the median scores."""
    results: dict[str, ProximityResult] = {i: d["result"] for i, d in docs.items()}
    close = _close(results)
    selected = [r["selected_mean"] for r in results.values() if r["selected_mean"] is not None]
    random = [r["random_mean"] for r in results.values() if r["random_mean"] is not None]
    medians = f"; median score {median(selected):.2f} vs random {median(random):.2f}" if selected and random else ""
    return [
        Glance(
            CLAIM,
            "SAIF: semantically close to the instruction (stated, no number)",
            f"closer than random latents (Mann-Whitney p < 0.05) for {len(close)} of {len(results)} "
            f"instructions{medians} ({n_each((r['n_prompts'] for r in results.values()), 'test prompts')}; no "
            "interval)",
            tally(len(close), len(results)),
        )
    ]


def proximity_lines(docs: dict[str, dict[str, Any]]) -> list[str]:
    columns = (
        "instruction", "SAE", "prompts", "selected latents: score (percentile among random)", "selected mean",
        "random mean (n)", "Mann-Whitney p",
    )  # fmt: skip
    rows = []
    for iid, doc in docs.items():
        r: ProximityResult = doc["result"]
        cells = ", ".join(
            f"{s['latent']}: "
            + (f"{score:.2f} ({100 * share:.0f}%)" if score is not None and share is not None else "–")
            for s in r["selected"]
            for score, share in [(s["score"], s["percentile"])]
        )
        rows.append(
            [
                f"`{iid}`",
                r["sae"],
                r["n_prompts"],
                cells,
                r["selected_mean"],
                f"{r['random_mean']} ({r['n_random']})",
                p_value(r["mann_whitney_p"]),
            ]
        )
    return table(columns, rows)


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
