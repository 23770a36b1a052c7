"""Does SAIF steering work? Each instruction's validated recipe, on test contents, beside every baseline and control.

On the same test contents (statements and paragraphs alternating), with the same greedy decoding:
- `original`: the content alone; `prompted`: content + instruction (post);
- `steered`: the recipe (chosen on validation, `steering.recipe_search`); `prompted_steered`: both;
- `mean_difference`: the CAA vector at the recipe's layer, at the α the search chose for it on validation;
- `random_latents`: as many other latents of the same SAE, at the recipe's vector norm (seeded);
- `random_direction`: a Gaussian direction at the recipe's norm (seeded);
- `top1_matched`: the recipe's first latent alone at the recipe's norm (several latents vs one at the same strength).
Every method gets its rates with 95 % Wilson intervals, chrF fidelity with its mismatched control, McNemar's exact
test against `original`, `prompted` and `steered` on the headline verdict, and every generated text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.cache import JsonStore, digest
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import pick_contents
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import Content, load_contents
from saif_ui.saif.inputs.prompts import Placement
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.judge.fidelity import fidelity, mismatched_pairing
from saif_ui.saif.judge.stats import mcnemar_exact, wilson_interval
from saif_ui.saif.steering.baselines import (
    mean_difference_spec,
    norm_matched,
    random_direction_spec,
    random_latents_spec,
)
from saif_ui.saif.steering.compare import Mode, Output, run_modes
from saif_ui.saif.steering.evaluate import REPETITION_LIMIT, EvalConfig, Evaluation, Summary, evaluate
from saif_ui.saif.steering.recipe import Recipe, require_recipe
from saif_ui.saif.steering.spec import SteeringSpec
from saif_ui.saif.studies import shipped
from saif_ui.saif.studies.findings_steering import (
    METHODS,
    SteeringResult,
    index_extra,
    steering_claims,
    steering_glance,
    steering_section,
)
from saif_ui.saif.studies.shipped import Log, engine_key, is_current, load_shipped, recipe_key, run_each, sae_key
from saif_ui.saif.studies.study import Doc, Study

NAME = "steering"
VERSION = 1
SEED = 0
DECODING = Decoding(max_new_tokens=48)
BATCH_SIZE = 32


def reporting_contents() -> list[Content]:
    """Every test content, statements and paragraphs alternating: what the study reports on."""
    return pick_contents(load_contents("test"), None)


def study_key(engine: Engine, recipe: Recipe) -> dict[str, Any]:
    """Everything that decides this study's result for one instruction."""
    return shipped.study_key(
        NAME,
        VERSION,
        engine,
        ("discovery", "test"),
        **recipe_key(engine, recipe),
        decoding=DECODING.key(),
        repetition_limit=REPETITION_LIMIT,
        seed=SEED,
    )


def study_key_digest(engine: Engine, recipe: Recipe) -> str:
    """The digest a current shipped result of this study carries (what studies that read it key on)."""
    return digest(study_key(engine, recipe))


def control_specs(engine: Engine, recipe: Recipe) -> dict[str, SteeringSpec]:
    """The recipe's controls, each ready to run at its own α (see the module docstring)."""
    spec = recipe.spec
    norm = spec.norm(engine)
    md = recipe.validation.get("controls", {}).get("mean_difference", {})
    mean_diff = mean_difference_spec(
        engine,
        recipe.instruction,
        recipe.layer,
        DiscoveryConfig(),
        alpha=float(md.get("alpha", 1.0)),
        positions=spec.positions,
    )
    top1 = replace(spec, latents=spec.latents[:1])
    return {
        "mean_difference": replace(mean_diff, decay=spec.decay),
        "random_latents": random_latents_spec(spec, engine, seed=SEED),
        "random_direction": random_direction_spec(spec, engine, seed=SEED),
        "top1_matched": norm_matched(top1, engine, norm),
    }


def run_instruction(
    engine: Engine,
    recipe: Recipe,
    log: Log = print,
    *,
    contents: list[Content] | None = None,
    decoding: Decoding = DECODING,
) -> dict[str, Any]:
    """The study for one instruction (uncached; `steering_study` ships it). `contents` and `decoding` default to the
    shipped protocol (every test content, 48 greedy tokens); smaller ones only for quick checks."""
    contents = contents if contents is not None else reporting_contents()
    cfg = EvalConfig(
        n_contents=None,
        decoding=decoding,
        batch_size=BATCH_SIZE,
        prompted_steered=True,
        fidelity_threshold=recipe.fidelity_threshold,
    )
    spec = recipe.spec
    log(f"{NAME}/{recipe.instruction}: recipe and baselines on {len(contents)} test contents")
    main = evaluate(engine, recipe.instruction, spec, contents, replace(cfg, alphas=(spec.alpha,)))
    outputs: dict[str, list[Output]] = {
        "original": main.baselines["original"],
        "prompted": main.baselines["prompted"],
        "steered": main.steered[spec.alpha],
        "prompted_steered": main.prompted_steered[spec.alpha],
    }
    specs: dict[str, SteeringSpec] = {"steered": spec}
    for name, control in control_specs(engine, recipe).items():
        log(f"{NAME}/{recipe.instruction}: {name}")
        ev = evaluate(
            engine,
            recipe.instruction,
            control,
            contents,
            replace(cfg, alphas=(control.alpha,), prompted_steered=False),
        )
        outputs[name] = ev.steered[control.alpha]
        specs[name] = control
    return _result(engine, main, outputs, specs, recipe)


def _result(
    engine: Engine,
    main: Evaluation,
    outputs: dict[str, list[Output]],
    specs: dict[str, SteeringSpec],
    recipe: Recipe,
) -> dict[str, Any]:
    limit, tau = REPETITION_LIMIT, recipe.fidelity_threshold
    verdicts = {name: main.verdicts(items, "success") for name, items in outputs.items()}
    methods: dict[str, Any] = {}
    for name in METHODS:
        items = outputs[name]
        block = Summary.of(items, limit, tau).to_dict()
        block["paired"] = {
            other: mcnemar_exact(verdicts[name], verdicts[other]).to_dict()
            for other in ("original", "prompted", "steered")
            if other != name
        }
        if name in specs:
            block["norm"] = round(specs[name].norm(engine), 3)
            block["alpha"] = specs[name].alpha
        block["outputs"] = [
            {
                "id": o.id,
                "text": o.text,
                "strict": o.strict,
                "repetition": round(o.repetition, 3),
                "chrf": o.fidelity,
                "success": ok,
            }
            for o, ok in zip(items, verdicts[name], strict=True)
        ]
        methods[name] = block
    return {
        "instruction": recipe.instruction,
        "checker": main.checker,
        "recipe": recipe.summary(),
        "contents": main.contents,
        "n": len(main.contents),
        "headline": "success",
        "methods": methods,
    }


def steering_study(
    engine: Engine, instructions: Sequence[str], *, force: bool = False, log: Log = print
) -> dict[str, dict[str, Any]]:
    """Run (or read back) the study for each instruction with a recipe; returns the shipped documents by id."""
    return run_each(
        NAME,
        (require_recipe(iid) for iid in instructions),
        lambda recipe: recipe.instruction,
        lambda recipe: study_key(engine, recipe),
        lambda recipe: run_instruction(engine, recipe, log),
        force=force,
        log=log,
    )


class StudyOrderError(SaifError):
    """A study that reads another study's shipped result found it missing or out of date."""


def contents_of(doc: dict[str, Any]) -> list[Content]:
    """The test contents of a shipped result, in its order."""
    by_id = {c.id: c for c in load_contents("test")}
    return [by_id[i] for i in doc["result"]["contents"]]


def current_doc(engine: Engine, recipe: Recipe) -> dict[str, Any]:
    """The shipped steering study of `recipe`'s instruction; an error when it is missing or its key is stale."""
    doc = load_shipped(NAME, recipe.instruction)
    if doc is None or doc.get("key_digest") != study_key_digest(engine, recipe):
        raise StudyOrderError(
            f"the steering study of {recipe.instruction!r} is missing or out of date: "
            f"run `python -m saif_ui steering-study --instructions {recipe.instruction}` first"
        )
    return doc


def rate(verdicts: list[bool]) -> dict[str, Any]:
    """A rate of verdicts with its n and 95 % Wilson interval."""
    low, high = wilson_interval(sum(verdicts), len(verdicts))
    return {"rate": round(sum(verdicts) / len(verdicts), 4), "ci": [round(low, 4), round(high, 4)], "n": len(verdicts)}


def shipped_verdicts(block: dict[str, Any], metric: str) -> list[bool]:
    """Per-content verdicts (`success`, `fluent_strict` or `strict`) of one method of a shipped result, in content
    order."""
    rows = block["outputs"]
    if metric == "success":
        return [bool(r["success"]) for r in rows]
    if metric == "strict":
        return [bool(r["strict"]) for r in rows]
    if metric == "fluent_strict":
        return [bool(r["strict"]) and float(r["repetition"]) <= REPETITION_LIMIT for r in rows]
    raise SaifError(f"unknown metric {metric!r}: success, fluent_strict or strict")


def generate(
    engine: Engine,
    instruction: str,
    contents: Sequence[Content],
    spec: SteeringSpec,
    mode: Mode,
    *,
    placement: Placement = "post",
    decoding: Decoding = DECODING,
    use_cache: bool = True,
) -> list[Output]:
    """One mode's answers to `contents` for a study that builds on this one, cached on disk
    (`<cache_dir>/studies/`) by everything that decides them, so a study rerun for a change in how it judges or
    reports regenerates nothing."""
    store = JsonStore(Path(engine.config.cache_dir) / "studies", enabled=use_cache)
    pairs = [(c.id, c.text) for c in contents]
    key = {
        **engine_key(engine),
        "instruction": instruction,
        "mode": mode,
        "placement": placement,
        "spec": spec.to_dict() if "steered" in mode else None,
        "saes": [sae_key(engine, name) for name in sorted({e.sae for e in spec.latents})],
        "decoding": decoding.key(),
        "checkers": CHECKERS_VERSION,
        "catalogue": load_catalogue().version,
        "contents": [list(p) for p in pairs],
        "batch_size": BATCH_SIZE,
    }

    def run() -> list[dict[str, Any]]:
        out, _ = run_modes(engine, instruction, pairs, spec, [mode], placement=placement, decoding=decoding,
                           batch_size=BATCH_SIZE)  # fmt: skip
        return [o.to_dict() for o in out[mode]]

    rows, _ = store.get_or_compute("generations", key, run)
    return [Output.from_dict(r) for r in rows]


def judge_against(
    outputs: list[Output], prompted: list[str], contents: list[Content], tau: float
) -> list[dict[str, Any]]:
    """Answers generated by a study that builds on this one, judged as this one judges: chrF against `prompted`,
    the shipped prompted answers to the same `contents` (mismatched control beside it), success at threshold `tau`."""
    pairing = mismatched_pairing([c.kind for c in contents])
    scores = fidelity([o.text for o in outputs], prompted, pairing, "prompted")
    rows = []
    for o, matched, mismatched in zip(outputs, scores.matched, scores.mismatched, strict=True):
        fluent = bool(o.strict) and o.repetition <= REPETITION_LIMIT
        rows.append(
            {
                "id": o.id,
                "text": o.text,
                "strict": bool(o.strict),
                "repetition": round(o.repetition, 3),
                "chrf_prompted": round(matched, 2),
                "chrf_prompted_mismatched": round(mismatched, 2),
                "fluent_strict": fluent,
                "success": fluent and matched >= tau,
            }
        )
    return rows


@dataclass(frozen=True)
class TestFigures:
    """A recipe's shipped test figures, for the dashboard: each method's success rate and 95 % interval."""

    n: int
    rates: dict[str, tuple[float, float, float]]
    """Method -> (success, low, high)."""
    paired_p: dict[str, float]
    """Method -> McNemar's exact p of steered against it."""
    key_digest: str
    current: bool
    """False when the shipped result's key no longer matches the recipe, code and data (it needs a rerun)."""


def shipped_test_figures(engine: Engine, recipe: Recipe) -> TestFigures | None:
    """The shipped study of `recipe`'s instruction, or None when none is shipped."""
    doc = load_shipped(NAME, recipe.instruction)
    if doc is None:
        return None
    methods = doc["result"]["methods"]
    return TestFigures(
        n=int(doc["result"]["n"]),
        rates={name: (m["success"], *m["ci"]["success"]) for name, m in methods.items()},
        paired_p={name: m["paired"]["steered"]["p"] for name, m in methods.items() if "steered" in m["paired"]},
        key_digest=str(doc["key_digest"]),
        current=is_current(doc, study_key(engine, recipe)),
    )


def summary(iid: str, doc: Doc) -> list[str]:
    r: SteeringResult = doc["result"]
    m = r["methods"]
    row = ", ".join(f"{name} {m[name]['success']:.0%}" for name in ("original", "prompted", "steered"))
    return [f"{iid}: n {r['n']}: {row} ({doc['seconds']:.0f} s)"]


STUDY = Study(
    name=NAME,
    version=VERSION,
    command="steering-study",
    help="each validated recipe on test contents beside the prompted baseline and controls; ships docs/studies/",
    key_for=shipped.recipe_key_for(study_key),
    run=steering_study,
    summary=summary,
    order=10,
    section=steering_section,
    claim=steering_claims,
    glance=steering_glance,
    unshipped=("No steering study has been shipped yet: run `python -m saif_ui steering-study`.", ""),
    index_order=25,
    index_name="studies",
    index_extra=index_extra,
)
