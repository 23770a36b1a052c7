"""Post vs pre placement (SAIF: an instruction after the content is followed better and gives better latents).

For each instruction with a recipe, on the same test contents as the steering study, with the same decoding:
- *prompted*: the instruction after (`post`, the steering study's prompted answers) vs before (`pre`) the content.
  The headline here is fluent strict (compliant, not a loop): `success` measures fidelity to the post-prompted
  answer, which would favour post by construction.
- *discovery*: the top latents found with the instruction after vs before (discovery split, the recipe's layer and
  settings), their Jaccard overlap at the recipe's k and at 20.
- *steering*: the recipe (post-discovered latents, the steering study's steered answers) vs the same recipe with
  its latents replaced by the pre-discovered top-k (the same layer, k, α × mean activation, positions and decay).
  Both judged on success against the same post-prompted answers with the recipe's threshold; the recipe's α was
  chosen for the post latents, so any bias favours post, and the study says so.
The post answers are read from the shipped steering study (its key is part of this one's), so both placements are
compared on exactly the outputs that study shows; only the pre answers are generated here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.saif.discovery.discover import DiscoveryConfig, discover
from saif_ui.saif.discovery.scoring import jaccard
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import contents_version
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.judge.stats import mcnemar_exact
from saif_ui.saif.steering.recipe import Recipe
from saif_ui.saif.steering.spec import spec_from_discovery
from saif_ui.saif.studies import derived, steering_study
from saif_ui.saif.studies.shipped import Log, engine_key, sae_key

STUDY = "placement"
STUDY_VERSION = 2
"""2: the prompted `strict` comparison reads strict verdicts (v1 read fluent strict for both)."""
N_DISCOVERY = 48
"""Discovery contents, as the recipe search uses (`SearchConfig.n_discovery`)."""
OVERLAP_AT = 20


def study_key(engine: Engine, recipe: Recipe, steering_doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "study": STUDY,
        "v": STUDY_VERSION,
        **engine_key(engine),
        "instruction": recipe.instruction,
        "steering_study": steering_doc["key_digest"],
        "sae": sae_key(engine, recipe.spec.latents[0].sae),
        "contents": {"discovery": contents_version("discovery"), "test": contents_version("test")},
        "catalogue": load_catalogue().version,
        "checkers": CHECKERS_VERSION,
        "n_discovery": N_DISCOVERY,
        "overlap_at": OVERLAP_AT,
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
) -> dict[str, Any]:
    """The study for one instruction (uncached; `placement_study` ships it). `decoding` must be the steering
    study's (the default) for the comparison to mean anything; shorter only in quick checks."""
    shipped = steering_doc["result"]
    contents = steering_study.contents_of(steering_doc)
    methods = shipped["methods"]
    prompted_post = [r["text"] for r in methods["prompted"]["outputs"]]
    spec, iid = recipe.spec, recipe.instruction
    sae = spec.latents[0].sae
    dcfg = DiscoveryConfig(n_contents=N_DISCOVERY)
    found = {p: discover(engine, iid, sae, replace(dcfg, placement=p)) for p in ("post", "pre")}
    pre_spec = replace(
        spec_from_discovery(found["pre"], k=recipe.k, positions=spec.positions),
        alpha=spec.alpha,
        decay=spec.decay,
        decay_power=spec.decay_power,
        scale=spec.scale,
    )
    log(f"{STUDY}/{iid}: prompted (pre) and steered with pre-discovered latents on {len(contents)} test contents")
    told = steering_study.generate(engine, iid, contents, spec, "prompted", placement="pre", decoding=decoding)
    steered = steering_study.generate(engine, iid, contents, pre_spec, "steered", decoding=decoding)
    tau = recipe.fidelity_threshold
    pre_prompted = steering_study.judge_against(told, prompted_post, contents, tau)
    pre_steered = steering_study.judge_against(steered, prompted_post, contents, tau)

    def compare(post: list[bool], pre: list[bool]) -> dict[str, Any]:
        return {
            "post": steering_study.rate(post),
            "pre": steering_study.rate(pre),
            "paired": mcnemar_exact(post, pre).to_dict(),
        }

    prompted_cmp = {
        metric: compare(
            steering_study.shipped_verdicts(methods["prompted"], metric), [bool(r[metric]) for r in pre_prompted]
        )
        for metric in ("fluent_strict", "strict")
    }
    steering_cmp = {
        metric: compare(
            steering_study.shipped_verdicts(methods["steered"], metric), [bool(r[metric]) for r in pre_steered]
        )
        for metric in ("success", "fluent_strict")
    }
    post_ids, pre_ids = found["post"].ids, found["pre"].ids
    return {
        "instruction": iid,
        "n": len(contents),
        "contents": [c.id for c in contents],
        "recipe": recipe.summary(),
        "prompted": {**prompted_cmp, "headline": "fluent_strict", "pre_outputs": pre_prompted},
        "discovery": {
            "layer": recipe.layer,
            "sae": sae,
            "n_contents": N_DISCOVERY,
            "post_top": post_ids[:OVERLAP_AT],
            "pre_top": pre_ids[:OVERLAP_AT],
            f"jaccard_at_{recipe.k}": round(jaccard(post_ids[: recipe.k], pre_ids[: recipe.k]), 4),
            f"jaccard_at_{OVERLAP_AT}": round(jaccard(post_ids[:OVERLAP_AT], pre_ids[:OVERLAP_AT]), 4),
            "k": recipe.k,
        },
        "steering": {
            **steering_cmp,
            "headline": "success",
            "pre_latents": [e.latent for e in pre_spec.latents],
            "post_latents": recipe.latents,
            "pre_outputs": pre_steered,
        },
    }


def placement_study(
    engine: Engine, instructions: list[str], *, force: bool = False, log: Log = print
) -> dict[str, dict[str, Any]]:
    """Run (or read back) the study for each instruction with a recipe and a current steering study."""
    return derived.run_derived(STUDY, engine, instructions, study_key, run_instruction, force=force, log=log)
