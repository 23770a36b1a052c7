"""The recipe search on the real model, shrunk to a few validation contents: it reads validation only, tries every
stage, and its recipe round-trips and steers."""

from __future__ import annotations

from pathlib import Path

import pytest

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.steering.recipe import load_recipes, save_recipe
from saif_ui.saif.steering.recipe_search import SearchConfig, choose_recipe, validation_contents

TINY = SearchConfig(
    alphas=(1.0, 4.0), ks=(1, 5), n_stage=2, n_validation=4, finalists=2, max_new_tokens=6, n_discovery=4,
    methods=("add", "clamp", "cap", "orthogonal"),
)  # fmt: skip


@pytest.fixture(scope="module")
def searched(engine: Engine, tmp_path_factory: pytest.TempPathFactory):
    """A search over two random SAEs (layers 2 and 5) with a private cache folder."""
    from tests.conftest import random_sae

    root = tmp_path_factory.mktemp("search")
    old, engine.config.cache_dir = engine.config.cache_dir, root / "cache"
    names = []
    for layer, seed in ((2, 4), (5, 5)):
        random_sae(engine.d_model, 64, f"blocks.{layer}.hook_resid_post", seed=seed).save_model(str(root / f"r{layer}"))
        names.append(engine.add_sae(str(root / f"r{layer}")).name)
    try:
        yield choose_recipe(engine, "french", TINY, use_cache=False, log=lambda _: None)
    finally:
        for name in names:
            engine.remove_sae(name)
        engine.config.cache_dir = old


def test_search_reads_validation_contents_only() -> None:
    test_ids = {c.id for c in load_contents("test")} | {c.id for c in load_contents("discovery")}
    assert not {c.id for c in validation_contents()} & test_ids
    assert len(validation_contents(4)) == 4


def test_search_tries_every_stage_and_keeps_the_best_finalist(searched) -> None:
    v = searched.validation
    settings = {(c["layer"], c["k"], c["alpha"], c["positions"], c["decay"]) for c in v["candidates"]}
    adds = [c for c in v["candidates"] if "method" not in c]  # an additive candidate reads as before methods
    layers = {c["layer"] for c in adds if c["k"] == 5 and c["positions"] == "all" and c["decay"] == 0}
    assert layers == {2, 5}  # every attached SAE's layer
    assert any(p == "generated" for *_, p, _ in settings) and any(d > 0 for *_, d in settings)
    assert {c["k"] for c in v["candidates"]} == {1, 5}
    # each other intervention is swept over the α grid at the best additive setting, and competes with it
    lead = max(adds, key=lambda c: (c["successes"], c["fluent"], c["strict"], -c["k"], -c["alpha"]))
    for method in ("clamp", "cap", "orthogonal"):
        swept = [c for c in v["candidates"] if c.get("method") == method]
        assert sorted(c["alpha"] for c in swept) == [1.0, 4.0], method
        assert {(c["layer"], c["k"], c["positions"]) for c in swept} == {(lead["layer"], lead["k"], lead["positions"])}
    assert searched.spec.method in ("add", "clamp", "cap", "orthogonal")
    finals = v["finalists"]
    assert len(finals) == 2 and all(f["n"] == 4 for f in finals)
    best = max(f["successes"] for f in finals)
    assert v["successes"] == best and v["n"] == 4
    assert 0 <= v["ci"][0] <= v["success"] <= v["ci"][1] <= 1
    assert searched.spec.alpha in (1.0, 4.0, 2.0, 8.0) and len(searched.latents) == searched.k
    assert v["controls"]["mean_difference"]["alpha"] in (1.0, 4.0)
    prov = searched.provenance
    assert set(prov["contents"]) == {"discovery", "validation"} and prov["git_commit"]


def test_recipe_round_trips_and_steers(searched, engine: Engine, tmp_path: Path) -> None:
    path = save_recipe(searched, tmp_path / "recipes.json")
    again = load_recipes(path)["french"]
    assert again == searched
    prompt = engine.render("The sun rises in the east.")
    plain = engine.generate([prompt], decoding=Decoding(max_new_tokens=8))[0].text
    steered = engine.generate(
        [prompt], again.spec.with_alpha(8.0).steerings(engine), decoding=Decoding(max_new_tokens=8)
    )[0].text
    assert steered != plain


def test_search_settings_are_checked() -> None:
    with pytest.raises(SaifError, match="k = 5"):
        SearchConfig(ks=(1, 10))
    with pytest.raises(SaifError, match="n_validation"):
        SearchConfig(n_stage=8, n_validation=4)
    with pytest.raises(SaifError, match="methods must include add"):
        SearchConfig(methods=("clamp",))
    with pytest.raises(SaifError, match="methods must include add"):
        SearchConfig(methods=("add", "teleport"))


def test_search_without_a_checker_is_refused(engine: Engine) -> None:
    from saif_ui.saif.inputs.catalogue import Instruction

    custom = Instruction.custom(["Be nice."])
    with pytest.raises(SaifError, match="no checker"):
        choose_recipe(engine, custom, TINY, use_cache=False)  # type: ignore[arg-type]
