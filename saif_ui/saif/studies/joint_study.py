"""Two instructions at once: can the union of two recipes' latents make the model follow both, untold?

For each pair of instructions with recipes (`PAIRS`):
1. *validation* (the contents the recipes were chosen on, never test): the weight grid — each instruction's recipe
   at weight 0, 1 or 2 × its own α — beside `original` and `prompted` (both instructions, in order, after the
   content). The faithfulness threshold is chosen here, as each recipe's is: the 95 % quantile of the prompted
   answers' chrF to other contents' prompted answers. The chosen weights are the cell with the most successes.
2. *test* (every test content): at the chosen weights, against
   - `original`; `prompted` (both instructions); `prompted_<a>`, `prompted_<b>` (one instruction each);
   - `steered_<a>`, `steered_<b>`: one recipe alone, at its chosen weight (does the second part add anything?);
   - `random_latents`: each recipe's latents replaced by as many random latents of its SAE at its weighted norm;
   - `mean_difference`: each recipe replaced by the mean-difference (CAA) vector at its layer, at the α the recipe
     search chose for it, weighted alike.
   Every method: joint success (both checkers, no loop, chrF to the prompted answer >= the threshold), each
   checker's rate, all with n and 95 % Wilson intervals; McNemar's exact test of `joint` against every other method
   on the same contents; every text.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.cache import digest
from saif_ui.engine.decoding import Decoding
from saif_ui.saif.discovery.discover import pick_contents
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import Content, contents_version, load_contents
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.judge.stats import mcnemar_exact
from saif_ui.saif.steering.evaluate import REPETITION_LIMIT
from saif_ui.saif.steering.joint import WEIGHTS, JointPart, JointSpec, joint_wording
from saif_ui.saif.steering.joint_eval import (
    Job,
    JointConfig,
    JointOutput,
    evaluate_joint,
    run_joint_jobs,
    score_fidelity,
    summarise,
)
from saif_ui.saif.steering.recipe import Recipe, require_recipe
from saif_ui.saif.studies.shipped import Log, engine_key, run_or_load, sae_key
from saif_ui.saif.studies.steering_study import control_specs

STUDY = "joint"
STUDY_VERSION = 1
PAIRS: tuple[tuple[str, str], ...] = (
    ("french", "postscript"),
    ("spanish", "question"),
    ("postscript", "title_brackets"),
)
"""Pairs of instructions with recipes that the model follows together when told, on validation contents: two
languages at once is a contradiction, and some pairs barely combine even prompted (a French question seldom ends
with "?"). Each pair's prompted joint rate on validation is in its result, beside the grid."""
N_VALIDATION = 48
DECODING = Decoding(max_new_tokens=48)
BATCH_SIZE = 32
SEED = 0


def pair_id(pair: tuple[str, ...]) -> str:
    return "+".join(pair)


def joint_of(recipes: list[Recipe], weights: tuple[float, ...] | None = None) -> JointSpec:
    joint = JointSpec(tuple(JointPart(r.instruction, r.spec) for r in recipes))
    return joint if weights is None else joint.with_weights(weights)


def study_key(engine: Engine, recipes: list[Recipe]) -> dict[str, Any]:
    return {
        "study": STUDY,
        "v": STUDY_VERSION,
        **engine_key(engine),
        "instructions": [r.instruction for r in recipes],
        "recipes": [digest(r.to_dict()) for r in recipes],
        "saes": [sae_key(engine, name) for name in sorted({e.sae for r in recipes for e in r.spec.latents})],
        "contents": {"validation": contents_version("validation"), "test": contents_version("test")},
        "catalogue": load_catalogue().version,
        "checkers": CHECKERS_VERSION,
        "decoding": asdict(DECODING),
        "weights": list(WEIGHTS),
        "n_validation": N_VALIDATION,
        "repetition_limit": REPETITION_LIMIT,
        "seed": SEED,
    }


def key_for(engine: Engine, item: str) -> dict[str, Any]:
    """The key a current shipped result for the pair `item` ("french+postscript") carries."""
    return study_key(engine, [require_recipe(i) for i in item.split("+")])


def controls(engine: Engine, recipes: list[Recipe], weights: tuple[float, ...]) -> dict[str, JointSpec]:
    """The joint spec's controls at `weights`: every part replaced by its recipe's control (steering study's
    `control_specs`, each at the recipe's norm or search-chosen α), weighted alike."""
    out = {}
    for name in ("random_latents", "mean_difference"):
        parts = tuple(
            JointPart(r.instruction, control_specs(engine, r)[name], w) for r, w in zip(recipes, weights, strict=True)
        )
        out[name] = JointSpec(parts)
    return out


def _rows(block: list[JointOutput], tau: float) -> list[dict[str, Any]]:
    return [{**o.to_dict(), "strict": o.strict, "success": o.success(tau)} for o in block]


def run_pair(
    engine: Engine,
    pair: tuple[str, ...],
    log: Log = print,
    *,
    validation: list[Content] | None = None,
    test: list[Content] | None = None,
    decoding: Decoding = DECODING,
) -> dict[str, Any]:
    """The study of one pair (uncached; `joint_study` ships it). `validation`, `test` and `decoding` default to
    the shipped protocol; smaller ones only for quick checks."""
    recipes = [require_recipe(i) for i in pair]
    validation = validation if validation is not None else pick_contents(load_contents("validation"), N_VALIDATION)
    test = test if test is not None else pick_contents(load_contents("test"), None)
    ids = tuple(pair)
    log(f"{STUDY}/{pair_id(pair)}: weight grid on {len(validation)} validation contents")
    grid = evaluate_joint(engine, joint_of(recipes), validation, JointConfig(decoding=decoding, batch_size=BATCH_SIZE))
    weights, tau = grid.best_cell(), grid.fidelity_threshold
    log(f"{STUDY}/{pair_id(pair)}: weights {weights} chosen; {len(test)} test contents")
    chosen = joint_of(recipes, weights)
    alone = {
        f"steered_{r.instruction}": joint_of(recipes, tuple(w if j == i else 0.0 for j, w in enumerate(weights)))
        for i, r in enumerate(recipes)
        if weights[i] != 0 and any(w != 0 for j, w in enumerate(weights) if j != i)
    }
    jobs: list[Job] = [("original", (), None), ("prompted", ids, None)]
    jobs += [(f"prompted_{i}", (i,), None) for i in ids]
    jobs += [("joint", (), chosen)]
    jobs += [(name, (), spec) for name, spec in alone.items()]
    jobs += [(name, (), spec) for name, spec in controls(engine, recipes, weights).items()]
    raw = run_joint_jobs(engine, ids, [(c.id, c.text) for c in test], jobs, decoding=decoding, batch_size=BATCH_SIZE)
    scored = score_fidelity(test, [o.text for o in raw["prompted"]], raw)
    verdicts = {name: [o.success(tau) for o in block] for name, block in scored.items()}
    methods = {}
    for name, block in scored.items():
        m = summarise(block, ids, tau)
        if name != "joint":
            m["paired_joint"] = mcnemar_exact(verdicts["joint"], verdicts[name]).to_dict()
        m["outputs"] = _rows(block, tau)
        methods[name] = m
    val = grid.to_dict(outputs=False)
    return {
        "instructions": list(ids),
        "wording": joint_wording(ids),
        "recipes": [r.summary() for r in recipes],
        "validation": {
            "n": len(validation),
            "contents": val["contents"],
            "fidelity_threshold": tau,
            "threshold_source": val["threshold_source"],
            "baselines": val["baselines"],
            "cells": val["cells"],
            "chosen_weights": list(weights),
        },
        "weights": list(weights),
        "fidelity_threshold": tau,
        "test": {"n": len(test), "contents": [c.id for c in test], "methods": methods},
    }


def joint_study(
    engine: Engine, pairs: tuple[tuple[str, ...], ...] = PAIRS, *, force: bool = False, log: Log = print
) -> dict[str, dict[str, Any]]:
    """Run (or read back) the study of each pair; returns the shipped documents by pair id."""
    out = {}
    for pair in pairs:
        recipes = [require_recipe(i) for i in pair]
        out[pair_id(pair)] = run_or_load(
            STUDY,
            pair_id(pair),
            study_key(engine, recipes),
            lambda pair=pair: run_pair(engine, pair, log),  # type: ignore[misc]
            force=force,
            log=log,
        )
    return out
