"""What the studies built on the steering study share: their key names the steering study's shipped result (a rerun of
it invalidates them), their driver reads each instruction's current steering result, then runs or reads back, and
each run steers on that study's test contents and judges as it judges (`Item`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.saif.inputs.contents import Content, Split
from saif_ui.saif.inputs.prompts import Placement
from saif_ui.saif.steering.compare import Mode
from saif_ui.saif.steering.recipe import Recipe, require_recipe
from saif_ui.saif.steering.recipe_search import SearchConfig
from saif_ui.saif.steering.spec import SteeringSpec
from saif_ui.saif.studies import steering_study
from saif_ui.saif.studies.shipped import Log, run_each, sae_key, study_key
from saif_ui.saif.studies.study import Docs, Study

METRICS = ("success", "fluent_strict")
"""The verdicts a derived study reports: success against the prompted answer with the recipe's threshold, and fluent
strict (informative where nothing succeeds)."""


@dataclass(frozen=True)
class Item:
    """One instruction of a derived study: its recipe, the steering study's document it builds on, and the decoding
    (the steering study's, the default, for a comparison to mean anything; shorter only in quick checks)."""

    engine: Engine
    recipe: Recipe
    steering_doc: dict[str, Any]
    decoding: Decoding = steering_study.DECODING

    @property
    def shipped(self) -> dict[str, Any]:
        """The steering study's result."""
        result: dict[str, Any] = self.steering_doc["result"]
        return result

    @cached_property
    def contents(self) -> list[Content]:
        """The steering study's test contents, in its order."""
        return steering_study.contents_of(self.steering_doc)

    @cached_property
    def prompted(self) -> list[str]:
        """The steering study's prompted answers to them: the reference every answer is judged against."""
        return [r["text"] for r in self.shipped["methods"]["prompted"]["outputs"]]

    def judged(
        self, spec: SteeringSpec, mode: Mode = "steered", *, placement: Placement = "post"
    ) -> list[dict[str, Any]]:
        """`spec` (or the prompt, in mode "prompted") generated on the test contents and judged as the steering study
        judges, against its prompted answers with the recipe's threshold."""
        iid, contents = self.recipe.instruction, self.contents
        out = steering_study.generate(
            self.engine, iid, contents, spec, mode, placement=placement, decoding=self.decoding
        )
        return steering_study.judge_against(out, self.prompted, contents, self.recipe.fidelity_threshold)

    def shipped_verdicts(self, method: str, metric: str) -> list[bool]:
        """One method's per-content verdicts, read back from the steering study."""
        return steering_study.shipped_verdicts(self.shipped["methods"][method], metric)

    def shipped_rates(self, method: str, metrics: Sequence[str] = METRICS) -> dict[str, dict[str, Any]]:
        """One method's rate of each metric, read back from the steering study."""
        return {m: steering_study.rate(self.shipped_verdicts(method, m)) for m in metrics}

    def header(self) -> dict[str, Any]:
        """What every derived result begins with: the instruction, its test contents and the recipe."""
        contents = self.contents
        return {
            "instruction": self.recipe.instruction,
            "n": len(contents),
            "contents": [c.id for c in contents],
            "recipe": self.recipe.summary(),
        }


def verdicts(rows: list[dict[str, Any]], metrics: Sequence[str] = METRICS) -> dict[str, list[bool]]:
    """Judged rows (`Item.judged`) as per-content verdicts of each metric."""
    return {m: [bool(r[m]) for r in rows] for m in metrics}


StudyKey = Callable[[Engine, Recipe, dict[str, Any]], dict[str, Any]]
"""(engine, recipe, the steering study's document) -> everything that decides the derived study's result."""
Runner = Callable[[Item, Log], dict[str, Any]]
"""(the instruction's item, log) -> the derived study's result for one instruction."""


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
        lambda item: run_instruction(Item(engine, *item), log),
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
