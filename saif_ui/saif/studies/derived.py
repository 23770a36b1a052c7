"""What the studies built on the steering study share: their key names the steering study's shipped result (a rerun of
it invalidates them), and their driver reads each instruction's current steering result, then runs or reads back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from saif_ui.engine import Engine
from saif_ui.saif.steering.recipe import Recipe, require_recipe
from saif_ui.saif.studies import steering_study
from saif_ui.saif.studies.shipped import Log, run_or_load

StudyKey = Callable[[Engine, Recipe, dict[str, Any]], dict[str, Any]]
"""(engine, recipe, the steering study's document) -> everything that decides the derived study's result."""
Runner = Callable[[Engine, Recipe, dict[str, Any], Log], dict[str, Any]]
"""(engine, recipe, the steering study's document, log) -> the derived study's result for one instruction."""


def key_for(engine: Engine, instruction: str, study_key: StudyKey) -> dict[str, Any]:
    """The key a current shipped result of a derived study carries for `instruction`."""
    recipe = require_recipe(instruction)
    return study_key(engine, recipe, steering_study.current_doc(engine, recipe))


def run_derived(
    study: str,
    engine: Engine,
    instructions: list[str],
    study_key: StudyKey,
    run_instruction: Runner,
    *,
    force: bool = False,
    log: Log = print,
    skip: Callable[[Recipe], str | None] = lambda recipe: None,
) -> dict[str, dict[str, Any]]:
    """Run (or read back) `study` for each instruction with a recipe and a current steering study; `skip(recipe)`
    returns why an instruction has nothing to measure (it is then left out, said in the log)."""
    out = {}
    for iid in instructions:
        recipe = require_recipe(iid)
        reason = skip(recipe)
        if reason:
            log(f"{study}/{iid}: skipped ({reason})")
            continue
        doc = steering_study.current_doc(engine, recipe)
        out[iid] = run_or_load(
            study,
            iid,
            study_key(engine, recipe, doc),
            lambda recipe=recipe, doc=doc: run_instruction(engine, recipe, doc, log),  # type: ignore[misc]
            force=force,
            log=log,
        )
    return out
