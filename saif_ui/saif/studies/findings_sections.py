"""The number formats of FINDINGS.md, and the sections of the studies beside the steering study: semantic
proximity and FAST's special-token steering (their tables and claim lines), each from its shipped documents."""

from __future__ import annotations

from typing import Any

from saif_ui.saif.studies.special_study import MEASURES


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def ci(block: dict[str, Any], rate: str = "success") -> str:
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
        r = doc["result"]
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
        rows = doc["result"]["rows"]
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
            f"{sae} (`{doc['result']['token']}`): more structured than the random latent at "
            f"{', '.join(better) or 'no α'}, more polite at {', '.join(polite) or 'no α'} (McNemar p < 0.05); half "
            f"or more of the answers loop at {', '.join(loops) or 'no α'}; mean length "
            f"{rows[0]['special']['words']:.0f} → {last['special']['words']:.0f} words at α={last['alpha']:g} "
            f"(random latent: {last['random']['words']:.0f})"
        )
    return (
        "- **FAST: steering with a special-token latent gives more polite, structured answers at moderate α and "
        f"degrades at large α** — {'; '.join(parts)}."
    )


def proximity_lines(docs: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| instruction | SAE | prompts | selected latents: score (percentile among random) | selected mean "
        "| random mean (n) | Mann-Whitney p |",
        "|---|---|---|---|---|---|---|",
    ]
    for iid, doc in docs.items():
        r = doc["result"]
        cells = ", ".join(
            f"{s['latent']}: " + ("–" if s["score"] is None else f"{s['score']:.2f} ({100 * s['percentile']:.0f}%)")
            for s in r["selected"]
        )
        lines.append(
            f"| `{iid}` | {r['sae']} | {r['n_prompts']} | {cells} | {r['selected_mean']} "
            f"| {r['random_mean']} ({r['n_random']}) | {p_value(r['mann_whitney_p'])} |"
        )
    return lines
