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

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.saif.discovery.scoring import jaccard
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import contents_version
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.judge.stats import mcnemar_exact
from saif_ui.saif.steering.output_effect import output_effect
from saif_ui.saif.steering.recipe import Recipe
from saif_ui.saif.studies import derived, steering_study
from saif_ui.saif.studies.recipe_search import SearchConfig, best_candidate, stage_candidates
from saif_ui.saif.studies.shipped import Log, engine_key, sae_key

STUDY = "selection"
STUDY_VERSION = 1
METRICS = ("success", "fluent_strict")
SEARCH = SearchConfig()
COMPARED = ("steered", "mean_difference")
"""The steering study's methods the output-effect selection is tested against."""


def study_key(engine: Engine, recipe: Recipe, steering_doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "study": STUDY,
        "v": STUDY_VERSION,
        **engine_key(engine),
        "instruction": recipe.instruction,
        "steering_study": steering_doc["key_digest"],
        "sae": sae_key(engine, recipe.spec.latents[0].sae),
        "contents": {
            "discovery": contents_version("discovery"),
            "validation": contents_version("validation"),
            "test": contents_version("test"),
        },
        "catalogue": load_catalogue().version,
        "checkers": CHECKERS_VERSION,
        "search": {"alphas": list(SEARCH.alphas), "n_stage": SEARCH.n_stage, "n_discovery": SEARCH.n_discovery},
    }


def key_for(engine: Engine, instruction: str) -> dict[str, Any]:
    """The key a current shipped result for `instruction` carries."""
    return derived.key_for(engine, instruction, study_key)


def run_instruction(
    engine: Engine,
    recipe: Recipe,
    steering_doc: dict[str, Any],
    log: Log = print,
    *,
    decoding: Decoding = steering_study.DECODING,
    search: SearchConfig = SEARCH,
) -> dict[str, Any]:
    """The output-effect selection of one instruction, tuned on validation and reported on test (uncached)."""
    iid, tau, spec = recipe.instruction, recipe.fidelity_threshold, recipe.spec
    sae = spec.latents[0].sae
    log(f"{STUDY}/{iid}: output-effect scores at {sae}")
    effect = output_effect(engine, iid, sae, n_contents=search.n_discovery or 48, decoding=decoding)
    chosen_spec = replace(
        effect.spec(recipe.k), positions=spec.positions, decay=spec.decay, decay_power=spec.decay_power
    )
    tried = stage_candidates(engine, iid, chosen_spec, tau, search)
    best = best_candidate(tried)
    chosen_spec = chosen_spec.with_alpha(best.alpha)
    shipped = steering_doc["result"]
    contents = steering_study.contents_of(steering_doc)
    log(f"{STUDY}/{iid}: output-effect top-{recipe.k} at α {best.alpha} on {len(contents)} test contents")
    out = steering_study.generate(engine, iid, contents, chosen_spec, "steered", decoding=decoding)
    prompted = [r["text"] for r in shipped["methods"]["prompted"]["outputs"]]
    rows = steering_study.judge_against(out, prompted, contents, tau)
    mine = {m: [bool(r[m]) for r in rows] for m in METRICS}
    paired = {
        other: {
            m: mcnemar_exact(mine[m], steering_study.shipped_verdicts(shipped["methods"][other], m)).to_dict()
            for m in METRICS
        }
        for other in COMPARED
    }
    latents = [e.latent for e in chosen_spec.latents]
    return {
        "instruction": iid,
        "n": len(contents),
        "contents": [c.id for c in contents],
        "recipe": recipe.summary(),
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
        "compared": {
            other: {
                m: steering_study.rate(steering_study.shipped_verdicts(shipped["methods"][other], m)) for m in METRICS
            }
            for other in COMPARED
        },
    }


def selection_study(
    engine: Engine, instructions: list[str], *, force: bool = False, log: Log = print
) -> dict[str, dict[str, Any]]:
    """Run (or read back) the study for each instruction with a recipe and a current steering study."""
    return derived.run_derived(STUDY, engine, instructions, study_key, run_instruction, force=force, log=log)
