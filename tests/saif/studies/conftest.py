"""What the tests of the studies share: a shrunk steering study (random SAEs, a recipe, 4 test contents, 6 new
tokens) that every study built on it reads, as the shipped one is read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saif_ui.engine.decoding import Decoding
from saif_ui.saif.steering.recipe import Recipe
from saif_ui.saif.steering.recipe_search import SearchConfig
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent
from saif_ui.saif.studies import steering_study

SHORT = Decoding(max_new_tokens=6)
SEARCH = SearchConfig(alphas=(1.0, 4.0), n_stage=2, n_discovery=4, max_new_tokens=6)


@dataclass
class Shrunk:
    """The random SAEs (names and folders), the recipe and its shrunk steering study (its result and a document)."""

    names: list[str]
    folders: list[str]
    recipe: Recipe
    shipped: dict[str, Any]
    doc: dict[str, Any]


@contextmanager
def shrunk_steering_study(
    engine: Any, root: Path, latents: tuple[int, ...] = (1, 2), seeds: dict[int, int] | None = None
) -> Iterator[Shrunk]:
    """Random SAEs of 64 latents at each layer of `seeds` (layer -> seed; default layer 5, seed 7), a private cache
    under `root`, and a recipe steering the last SAE's `latents` at α 2; the SAEs and cache are restored on exit."""
    from tests.conftest import random_sae

    old, engine.config.cache_dir = engine.config.cache_dir, root / "cache"
    folders, names = [], []
    try:
        for layer, seed in (seeds or {5: 7}).items():
            folder = str(root / f"r{layer}")
            random_sae(engine.d_model, 64, f"blocks.{layer}.hook_resid_post", seed=seed).save_model(folder)
            folders.append(folder)
            names.append(engine.add_sae(folder).name)
        spec = SteeringSpec(latents=tuple(SteerLatent(names[-1], 5, i, mean_act=3.0) for i in latents), alpha=2.0)
        recipe = Recipe("french", "saif_topk", spec, k=len(latents), fidelity_threshold=15.0,
                        validation={"controls": {"mean_difference": {"alpha": 1.0}}})  # fmt: skip
        contents = steering_study.reporting_contents()[:4]
        shipped = steering_study.run_instruction(engine, recipe, lambda _: None, contents=contents, decoding=SHORT)
        yield Shrunk(names, folders, recipe, shipped, {"key_digest": "x", "result": shipped})
    finally:
        for name in names:
            engine.remove_sae(name)
        engine.config.cache_dir = old
