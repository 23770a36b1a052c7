"""The FINDINGS.md section of the semantic-proximity study: its claim line and table, from its shipped documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

from saif_ui.saif.studies.findings_sections import p_value, section, table
from saif_ui.saif.studies.study import Docs


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
