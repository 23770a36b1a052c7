"""The FINDINGS.md section of the selection study (latents chosen by their output effect): its claim line and
table, from its shipped documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

from saif_ui.saif.judge.stats import PairedDict
from saif_ui.saif.studies.findings_sections import (
    Candidate,
    DerivedResult,
    Rate,
    above,
    n_each,
    p_pair,
    p_value,
    pct,
    rate_ci,
    rates_and_p,
    section,
    table,
    tally,
    typed_results,
)
from saif_ui.saif.studies.study import Docs, Glance


class OutputEffect(TypedDict):
    latents: list[int]
    alpha: float
    norm: float
    validation: list[Candidate]
    jaccard_with_recipe: float
    success: Rate
    fluent_strict: Rate
    paired: dict[str, dict[str, PairedDict]]
    outputs: list[dict[str, Any]]


class SelectionResult(DerivedResult):
    """A shipped result of the selection study (`selection_study.run_instruction`); `output_effect` also carries
    the output-effect ranking's summary."""

    output_effect: OutputEffect
    compared: dict[str, dict[str, Rate]]


CLAIM = "Choosing latents by their output effect (GradSAE-style) instead of SAIF's input contrast"


def _vs_saif(r: SelectionResult) -> tuple[float, float, float]:
    """Fluent strict of the output-effect latents and of SAIF's, and McNemar's p between them."""
    o = r["output_effect"]
    saif = r["compared"]["steered"]["fluent_strict"]["rate"]
    return o["fluent_strict"]["rate"], saif, o["paired"]["steered"]["fluent_strict"]["p"]


def selection_claim(docs: Docs) -> str:
    results: dict[str, SelectionResult] = typed_results(docs)
    parts = []
    for iid, r in results.items():
        o, c = r["output_effect"], r["compared"]
        ours, saif, p = _vs_saif(r)
        parts.append(
            f"`{iid}` output effect {pct(o['success']['rate'])} success / {pct(ours)} fluent "
            f"strict vs SAIF's {pct(c['steered']['success']['rate'])} / {pct(saif)} "
            f"(p {p_value(p)}) and mean difference "
            f"{pct(c['mean_difference']['success']['rate'])} / {pct(c['mean_difference']['fluent_strict']['rate'])}"
        )
    return (
        f"- **{CLAIM}** — same "
        f"layer, k, positions and decay, α chosen on validation, on test contents: {'; '.join(parts)}."
    )


def selection_glance(docs: Docs) -> list[Glance]:
    """The claim at a glance: how often the output-effect latents are above or below SAIF's (fluent strict, the
    claim line's test), and the largest difference with its interval."""
    results: dict[str, SelectionResult] = typed_results(docs)
    hits = sum(above(*_vs_saif(r)) for r in results.values())
    against = sum(above(saif, ours, p) for ours, saif, p in map(_vs_saif, results.values()))
    top = max(results, key=lambda i: (v := _vs_saif(results[i]))[0] - v[1])
    r = results[top]
    return [
        Glance(
            "Latents chosen by their output effect (GradSAE-style) steer better than SAIF's input contrast",
            "Arad et al. 2025: output-score selection makes SAE steering 2–3× better",
            f"output effect above SAIF's latents (p < 0.05, fluent strict) for {hits} of {len(results)}, below for "
            f"{against}; largest `{top}` {rate_ci(r['output_effect']['fluent_strict'])} vs "
            f"{pct(_vs_saif(r)[1])} ({n_each(x['n'] for x in results.values())})",
            tally(hits, len(results), against),
        )
    ]


def selection_lines(docs: Docs) -> list[str]:
    results: dict[str, SelectionResult] = typed_results(docs)
    columns = (
        "instruction", "output-effect latents", "overlap with SAIF's (Jaccard)", "α (validation)",
        "success [95% CI]", "fluent strict [95% CI]", "p vs SAIF (success / fluent strict)", "p vs mean difference",
    )  # fmt: skip
    rows = []
    for iid, r in results.items():
        o = r["output_effect"]
        pm = o["paired"]["mean_difference"]
        rows.append(
            [f"`{iid}`", ", ".join(map(str, o["latents"])), f"{o['jaccard_with_recipe']:.2f}", f"{o['alpha']:g}",
             *rates_and_p(o, o["paired"]["steered"]), p_pair(pm)]
        )  # fmt: skip
    return table(columns, rows)


def selection_section(docs: Docs, figs: Path) -> list[str]:
    """The selection-by-output-effect section."""
    return section(
        "Selection by output effect",
        (
            "`python -m saif_ui selection-study`: at the recipe's SAE, the k latents whose steering vector most "
            "raises, to first order, the likelihood of the model's instructed answer to discovery contents given the "
            "prompt without the instruction (gradient of the answer's NLL at the layer × each latent's write vector × "
            "its mean activation under the instruction; after GradSAE, Shu et al. 2025, and Arad et al. 2025); α "
            "chosen on the validation stage; judged on the test contents beside SAIF's recipe and the mean-difference "
            "vector (their answers read back from the steering study)."
        ),
        selection_lines(docs),
    )
