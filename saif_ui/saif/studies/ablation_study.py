"""Several latents vs one, latent by latent: drop-one and add-one curves of each recipe on test contents.

For each instruction whose recipe steers with k ≥ 2 latents, on the steering study's test contents, at the recipe's
α, positions and decay (`steering.ablation.ablation_variants`):
- drop-one: the recipe without latent i, for each i;
- add-one: the first i latents in discovery's ranking, i = 1 .. k (the k-th is the recipe itself). The order is
  discovery's (chosen on discovery contents), not a greedy search by outcome, which would have to be run on
  validation to be reported here.
Each point is judged as the steering study judges (success against the shipped prompted answers with the recipe's
threshold, and fluent strict, which is informative where nothing succeeds), with its 95 % interval and McNemar's
exact test against the full recipe, whose answers are read from the shipped steering study. Recipes of one latent
have no curve; the norm-matched top-1 vs top-k comparison is in the steering study (`top1_matched`).
"""

from __future__ import annotations

from typing import Any

from saif_ui.saif.judge.stats import mcnemar_exact
from saif_ui.saif.steering.ablation import ablation_variants
from saif_ui.saif.studies import derived, steering_study
from saif_ui.saif.studies.findings_ablation import AblationResult, ablation_claim, ablation_glance, ablation_section
from saif_ui.saif.studies.shipped import Log
from saif_ui.saif.studies.study import Doc

NAME = "ablation"
VERSION = 1
METRICS = derived.METRICS


def run_instruction(item: derived.Item, log: Log = print) -> dict[str, Any]:
    """The curves of one recipe (uncached; `STUDY` ships them)."""
    spec, iid = item.recipe.spec, item.recipe.instruction
    if len(spec.latents) < 2:
        raise steering_study.StudyOrderError(f"the recipe of {iid!r} steers with one latent: it has no curve")
    full = {m: item.shipped_verdicts("steered", m) for m in METRICS}
    points: list[dict[str, Any]] = []
    for group, label, variant, kept in ablation_variants(spec):
        if group == "full":
            rows = None
            verdicts = full
        else:
            log(f"{NAME}/{iid}: {label} on {len(item.contents)} test contents")
            rows = item.judged(variant)
            verdicts = derived.verdicts(rows)
        point: dict[str, Any] = {
            "group": group,
            "label": label,
            "latents": kept,
            "norm": round(variant.norm(item.engine), 3),
            **{m: steering_study.rate(verdicts[m]) for m in METRICS},
            "paired_vs_full": {m: mcnemar_exact(verdicts[m], full[m]).to_dict() for m in METRICS},
        }
        if rows is not None:
            point["outputs"] = rows
        points.append(point)
    return {**item.header(), "original": item.shipped_rates("original"), "points": points}


def summary(iid: str, doc: Doc) -> list[str]:
    r: AblationResult = doc["result"]
    row = ", ".join(f"{p['label']} {p['success']['rate']:.0%}/{p['fluent_strict']['rate']:.0%}" for p in r["points"])
    return [f"{iid} (success/fluent strict): {row} ({doc['seconds']:.0f} s)"]


STUDY = derived.derived_study(
    NAME,
    VERSION,
    run_instruction,
    splits=("test",),
    skip=lambda recipe: "the recipe steers with one latent" if len(recipe.spec.latents) < 2 else None,
    command="ablation-study",
    help="drop-one and add-one curves of each recipe with several latents, on test contents",
    summary=summary,
    order=60,
    section=ablation_section,
    claim=lambda docs: [ablation_claim(docs)],
    glance=ablation_glance,
    pending="add-one / drop-one curves on test",
)
