"""Which latents to steer with: SAIF's input contrast vs selection by output effect, on the same footing.

For each instruction with a recipe, at the recipe's SAE, with the recipe's k, positions and decay:
- *output effect* (`steering.output_effect`, GradSAE-style): the k latents whose steering vector most raises, to
  first order, the likelihood of the model's instructed answer to discovery contents given the prompt without the
  instruction;
- its α chosen over the search's grid on the validation stage contents (`recipe_search.stage_candidates`), as the
  recipe's was;
- steered on the steering study's test contents and judged as it judges, beside the recipe (SAIF's input
  contrast) and the mean-difference vector, whose answers are read back from the steering study; McNemar's exact
  test against each on the same contents.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from saif_ui.saif.discovery.scoring import jaccard
from saif_ui.saif.judge.stats import mcnemar_exact
from saif_ui.saif.steering.output_effect import output_effect
from saif_ui.saif.steering.recipe_search import SearchConfig, best_candidate, stage_candidates
from saif_ui.saif.studies import derived, steering_study
from saif_ui.saif.studies.findings_selection import (
    SelectionResult,
    selection_claim,
    selection_glance,
    selection_section,
)
from saif_ui.saif.studies.shipped import Log
from saif_ui.saif.studies.study import Doc

NAME = "selection"
VERSION = 1
METRICS = derived.METRICS
SEARCH = SearchConfig()
COMPARED = ("steered", "mean_difference")
"""The steering study's methods the output-effect selection is tested against."""


def run_instruction(item: derived.Item, log: Log = print, *, search: SearchConfig = SEARCH) -> dict[str, Any]:
    """The output-effect selection of one instruction, tuned on validation and reported on test (uncached)."""
    engine, recipe = item.engine, item.recipe
    iid, tau, spec = recipe.instruction, recipe.fidelity_threshold, recipe.spec
    sae = spec.latents[0].sae
    log(f"{NAME}/{iid}: output-effect scores at {sae}")
    effect = output_effect(engine, iid, sae, n_contents=search.n_discovery or 48, decoding=item.decoding)
    chosen_spec = replace(
        effect.spec(recipe.k), positions=spec.positions, decay=spec.decay, decay_power=spec.decay_power
    )
    tried = stage_candidates(engine, iid, chosen_spec, tau, search)
    best = best_candidate(tried)
    chosen_spec = chosen_spec.with_alpha(best.alpha)
    log(f"{NAME}/{iid}: output-effect top-{recipe.k} at α {best.alpha} on {len(item.contents)} test contents")
    rows = item.judged(chosen_spec)
    mine = derived.verdicts(rows)
    paired = {
        other: {m: mcnemar_exact(mine[m], item.shipped_verdicts(other, m)).to_dict() for m in METRICS}
        for other in COMPARED
    }
    latents = [e.latent for e in chosen_spec.latents]
    return {
        **item.header(),
        "output_effect": {
            **effect.summary(max(20, recipe.k)),
            "latents": latents,
            "alpha": best.alpha,
            "norm": round(chosen_spec.norm(engine), 3),
            "validation": [asdict(c) for c in tried],
            "jaccard_with_recipe": round(jaccard(latents, recipe.latents), 4),
            **{m: steering_study.rate(mine[m]) for m in METRICS},
            "paired": paired,
            "outputs": rows,
        },
        "compared": {other: item.shipped_rates(other) for other in COMPARED},
    }


def summary(iid: str, doc: Doc) -> list[str]:
    r: SelectionResult = doc["result"]
    o = r["output_effect"]
    return [
        f"{iid}: output-effect latents {o['latents']} at α {o['alpha']:g}: success {o['success']['rate']:.0%}, "
        f"fluent strict {o['fluent_strict']['rate']:.0%} ({doc['seconds']:.0f} s)"
    ]


STUDY = derived.derived_study(
    NAME,
    VERSION,
    run_instruction,
    splits=("discovery", "validation", "test"),
    key_fields=lambda engine, recipe: {"search": derived.search_key(SEARCH)},
    command="selection-study",
    help="latents chosen by output effect (GradSAE-style) vs SAIF's input contrast, tuned on validation, on test",
    summary=summary,
    order=80,
    section=selection_section,
    claim=lambda docs: [selection_claim(docs)],
    glance=selection_glance,
    pending="latents chosen by output effect instead of input contrast",
)
