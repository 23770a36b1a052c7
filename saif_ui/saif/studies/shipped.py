"""Study results shipped under docs/studies/: small JSON files, each with the key that made it.

A key names everything that decides a result: the study's version, the model and its dtype and system prompt, the
versions of the contents split, catalogue, checkers and recipes it read, and the study's settings. A later session,
on a fresh machine with no cache, regenerates the documents from these files without generating anything; a study
reruns only when its key changes, and a test fails when a shipped file's key no longer matches the code and data.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from saif_ui.engine import Engine
from saif_ui.engine.cache import digest
from saif_ui.engine.keys import engine_key, sae_key
from saif_ui.provenance import command_line, git_commit
from saif_ui.resources import docs_dir, output_dir
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import Split, contents_version
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.steering.recipe import require_recipe
from saif_ui.saif.studies.study import KeyFor, Log

if TYPE_CHECKING:
    from saif_ui.saif.steering.recipe import Recipe

T = TypeVar("T")
STUDIES_DIR = docs_dir() / "studies"


def study_key(
    study: str,
    version: int,
    engine: Engine,
    splits: Sequence[Split] = (),
    *,
    catalogue: bool = True,
    checkers: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """A key's shared part, computed here once: the study and its version, the model, the versions of the contents
    `splits` it reads, of the catalogue and of the checkers (each when it reads them), plus the study's own `fields`."""
    key: dict[str, Any] = {"study": study, "v": version, **engine_key(engine)}
    if splits:
        key["contents"] = {split: contents_version(split) for split in splits}
    if catalogue:
        key["catalogue"] = load_catalogue().version
    if checkers:
        key["checkers"] = CHECKERS_VERSION
    return {**key, **fields}


def recipe_key(engine: Engine, recipe: Recipe) -> dict[str, Any]:
    """The part of a key that names the recipe a study measures: its instruction, its digest and its SAE."""
    return {
        "instruction": recipe.instruction,
        "recipe": digest(recipe.to_dict(adopted=False)),
        "sae": sae_key(engine, recipe.spec.latents[0].sae),
    }


def recipe_key_for(key_of_recipe: Callable[[Engine, Recipe], dict[str, Any]]) -> KeyFor:
    """The `key_for` of a study run per instruction with a recipe: `key_of_recipe` of the instruction's recipe."""

    def key_for(engine: Engine, instruction: str) -> dict[str, Any]:
        return key_of_recipe(engine, require_recipe(instruction))

    return key_for


def shipped_path(study: str, item: str, root: Path | None = None) -> Path:
    return (root or STUDIES_DIR) / study / f"{item}.json"


def load_shipped(study: str, item: str, root: Path | None = None) -> dict[str, Any] | None:
    """The shipped document of one study item, or None (absent or unreadable)."""
    path = shipped_path(study, item, root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_current(doc: dict[str, Any] | None, key: dict[str, Any]) -> bool:
    return doc is not None and doc.get("key_digest") == digest(key)


def run_or_load(
    study: str,
    item: str,
    key: dict[str, Any],
    run: Callable[[], dict[str, Any]],
    *,
    root: Path | None = None,
    force: bool = False,
    log: Log = print,
) -> dict[str, Any]:
    """The shipped result of `study`/`item` when its key matches `key`; otherwise `run()` it and ship the result
    (atomically) with its key, provenance and how long it took."""
    doc = load_shipped(study, item, root)
    if not force and is_current(doc, key):
        assert doc is not None
        return doc
    out = root if root is not None else output_dir("docs") / "studies"  # before running: an install is read-only
    log(f"{study}/{item}: running" + (" (key changed)" if doc is not None else ""))
    start = time.perf_counter()
    result = run()
    doc = {
        "study": study,
        "item": item,
        "key": key,
        "key_digest": digest(key),
        "provenance": {"git_commit": git_commit(), "command": command_line()},
        "seconds": round(time.perf_counter() - start, 1),
        "result": result,
    }
    path = shipped_path(study, item, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{item}-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return doc


def run_each(
    study: str,
    items: Iterable[T],
    item_id: Callable[[T], str],
    key: Callable[[T], dict[str, Any]],
    run: Callable[[T], dict[str, Any]],
    *,
    force: bool = False,
    log: Log = print,
) -> dict[str, dict[str, Any]]:
    """`run_or_load` for each item of a study: its document id, its key and how to run it; the documents by id."""
    return {
        item_id(x): run_or_load(study, item_id(x), key(x), lambda x=x: run(x), force=force, log=log)  # type: ignore[misc]
        for x in items
    }
