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

from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.cache import digest
from saif_ui.engine.decoding import Decoding
from saif_ui.saif.discovery.discover import pick_contents
from saif_ui.saif.inputs.contents import Content, load_contents
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
from saif_ui.saif.studies import shipped
from saif_ui.saif.studies.findings_joint import JointResult, joint_claim, joint_glance, joint_section
from saif_ui.saif.studies.shipped import Log, run_each, sae_key
from saif_ui.saif.studies.steering_study import control_specs
from saif_ui.saif.studies.study import Doc, Option, Study, check_instruction

NAME = "joint"
VERSION = 1
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
    return shipped.study_key(
        NAME,
        VERSION,
        engine,
        ("validation", "test"),
        instructions=[r.instruction for r in recipes],
        recipes=[digest(r.to_dict(adopted=False)) for r in recipes],  # it steers with SAIF's specs
        saes=[sae_key(engine, name) for name in sorted({e.sae for r in recipes for e in r.spec.latents})],
        decoding=DECODING.key(),
        weights=list(WEIGHTS),
        n_validation=N_VALIDATION,
        repetition_limit=REPETITION_LIMIT,
        seed=SEED,
    )


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
    log(f"{NAME}/{pair_id(pair)}: weight grid on {len(validation)} validation contents")
    grid = evaluate_joint(engine, joint_of(recipes), validation, JointConfig(decoding=decoding, batch_size=BATCH_SIZE))
    weights, tau = grid.best_cell(), grid.fidelity_threshold
    log(f"{NAME}/{pair_id(pair)}: weights {weights} chosen; {len(test)} test contents")
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
    return run_each(
        NAME,
        pairs,
        pair_id,
        lambda pair: study_key(engine, [require_recipe(i) for i in pair]),
        lambda pair: run_pair(engine, pair, log),
        force=force,
        log=log,
    )


def parse_pairs(text: str | None) -> tuple[tuple[str, ...], ...] | None:
    """`--pairs` ("french+question,spanish+postscript"), each a pair of different instructions with recipes; None
    when absent (the study's `PAIRS`)."""
    if not text:
        return None
    pairs = tuple(tuple(i.strip() for i in p.split("+")) for p in text.split(",") if p.strip())
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ValueError(f"a pair is two different instructions joined by '+', not {'+'.join(pair)!r}")
        for iid in pair:
            check_instruction(iid)
            require_recipe(iid)
    return pairs


def run_study(
    engine: Engine, pairs: tuple[tuple[str, ...], ...] | None, /, *, force: bool = False, log: Log = print
) -> dict[str, dict[str, Any]]:
    """`joint_study` of `pairs` (None: `PAIRS`)."""
    return joint_study(engine, PAIRS if pairs is None else pairs, force=force, log=log)


def summary(pid: str, doc: Doc) -> list[str]:
    r: JointResult = doc["result"]
    m = r["test"]["methods"]
    row = ", ".join(f"{name} {m[name]['success']['rate']:.0%}" for name in ("original", "prompted", "joint"))
    return [f"{pid}: weights {r['weights']}, n {r['test']['n']}: {row} ({doc['seconds']:.0f} s)"]


STUDY = Study(
    name=NAME,
    version=VERSION,
    command="joint-study",
    help="two instructions at once: the union of two recipes, weights chosen on validation, on test with controls",
    key_for=key_for,
    run=run_study,
    summary=summary,
    order=90,
    option=Option(
        "--pairs",
        "pairs of instructions with recipes, e.g. french+question,spanish+postscript (default: the study's pairs)",
        parse_pairs,
    ),
    section=joint_section,
    claim=lambda docs: [joint_claim(docs)],
    glance=joint_glance,
    pending="two instructions at once (SAIF's future work)",
)
