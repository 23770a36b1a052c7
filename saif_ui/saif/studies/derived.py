"""What the studies built on the steering study share: their key names the steering study's shipped result (a rerun of
it invalidates them), and their driver reads each instruction's current steering result, then runs or reads back."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from saif_ui.engine import Engine
from saif_ui.saif.inputs.contents import Content, Split
from saif_ui.saif.steering.recipe import Recipe, require_recipe
from saif_ui.saif.steering.recipe_search import SearchConfig
from saif_ui.saif.studies import steering_study
from saif_ui.saif.studies.shipped import Log, run_each, sae_key, study_key
from saif_ui.saif.studies.study import Docs, Study

StudyKey = Callable[[Engine, Recipe, dict[str, Any]], dict[str, Any]]
"""(engine, recipe, the steering study's document) -> everything that decides the derived study's result."""
Runner = Callable[[Engine, Recipe, dict[str, Any], Log], dict[str, Any]]
"""(engine, recipe, the steering study's document, log) -> the derived study's result for one instruction."""


def derived_key(
    study: str,
    version: int,
    engine: Engine,
    recipe: Recipe,
    steering_doc: dict[str, Any],
    splits: Sequence[Split],
    *,
    recipe_sae: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """A derived study's key: the shared part (`shipped.study_key`), the instruction, the digest of the steering
    study's result it reads and (`recipe_sae`) the recipe's SAE, plus the study's own `fields`."""
    own: dict[str, Any] = {"instruction": recipe.instruction, "steering_study": steering_doc["key_digest"]}
    if recipe_sae:
        own["sae"] = sae_key(engine, recipe.spec.latents[0].sae)
    return study_key(study, version, engine, splits, **own, **fields)


def search_key(search: SearchConfig) -> dict[str, Any]:
    """The part of the recipe search's settings that a study choosing α on validation keys on."""
    return {"alphas": list(search.alphas), "n_stage": search.n_stage, "n_discovery": search.n_discovery}


def key_for(engine: Engine, instruction: str, derived_study_key: StudyKey) -> dict[str, Any]:
    """The key a current shipped result of a derived study carries for `instruction`."""
    recipe = require_recipe(instruction)
    return derived_study_key(engine, recipe, steering_study.current_doc(engine, recipe))


def run_derived(
    study: str,
    engine: Engine,
    instructions: Sequence[str],
    derived_study_key: StudyKey,
    run_instruction: Runner,
    *,
    force: bool = False,
    log: Log = print,
    skip: Callable[[Recipe], str | None] = lambda recipe: None,
) -> dict[str, dict[str, Any]]:
    """Run (or read back) `study` for each instruction with a recipe and a current steering study; `skip(recipe)`
    returns why an instruction has nothing to measure (it is then left out, said in the log)."""

    def todo() -> Iterator[tuple[Recipe, dict[str, Any]]]:
        # a generator: each instruction is checked just before it runs, as it comes
        for iid in instructions:
            recipe = require_recipe(iid)
            reason = skip(recipe)
            if reason:
                log(f"{study}/{iid}: skipped ({reason})")
                continue
            yield recipe, steering_study.current_doc(engine, recipe)

    return run_each(
        study,
        todo(),
        lambda item: item[0].instruction,
        lambda item: derived_study_key(engine, *item),
        lambda item: run_instruction(engine, *item, log),
        force=force,
        log=log,
    )


KeyFields = Callable[[Engine, Recipe], dict[str, Any]]
"""(engine, recipe) -> a derived study's own settings in its key (`derived_key`'s `fields`)."""


def derived_study(
    name: str,
    version: int,
    run_instruction: Runner,
    *,
    splits: Sequence[Split],
    key_fields: KeyFields = lambda engine, recipe: {},
    recipe_sae: bool = True,
    skip: Callable[[Recipe], str | None] = lambda recipe: None,
    **declared: Any,
) -> Study:
    """The declaration of a study built on the steering study: its key (`derived_key` of the contents `splits` it
    reads and its own `key_fields`) and its run read each instruction's current steering result (`key_for`,
    `run_derived`); `declared` is the rest of its `Study`."""

    def derived_study_key(engine: Engine, recipe: Recipe, steering_doc: dict[str, Any]) -> dict[str, Any]:
        fields = key_fields(engine, recipe)
        return derived_key(name, version, engine, recipe, steering_doc, splits, recipe_sae=recipe_sae, **fields)

    def key_for_item(engine: Engine, instruction: str) -> dict[str, Any]:
        return key_for(engine, instruction, derived_study_key)

    def run(engine: Engine, instructions: Sequence[str], /, *, force: bool = False, log: Log = print) -> Docs:
        return run_derived(
            name, engine, instructions, derived_study_key, run_instruction, force=force, log=log, skip=skip
        )

    return Study(name=name, version=version, key_for=key_for_item, run=run, **declared)


def read_steering(steering_doc: dict[str, Any]) -> tuple[dict[str, Any], list[Content], list[str]]:
    """What a derived study reads of the steering study's document: its result, its test contents in order, and the
    prompted answers to them (the reference every answer is judged against)."""
    shipped = steering_doc["result"]
    prompted = [r["text"] for r in shipped["methods"]["prompted"]["outputs"]]
    return shipped, steering_study.contents_of(steering_doc), prompted


def shipped_rates(shipped: dict[str, Any], method: str, metrics: Sequence[str]) -> dict[str, dict[str, Any]]:
    """One method's rate of each metric, read back from the steering study's result."""
    return {m: steering_study.rate(steering_study.shipped_verdicts(shipped["methods"][method], m)) for m in metrics}
