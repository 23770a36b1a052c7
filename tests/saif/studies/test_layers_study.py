"""The layers study on the real model, shrunk: every SAE's layer tuned on validation stage contents, then steered on
the steering study's test contents and compared with the deepest layer."""

from __future__ import annotations

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.steering.recipe import Recipe
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent
from saif_ui.saif.studies import layers_study, steering_study
from saif_ui.saif.studies.recipe_search import SearchConfig

SHORT = Decoding(max_new_tokens=6)
SEARCH = SearchConfig(alphas=(1.0, 4.0), n_stage=2, n_discovery=4, max_new_tokens=6)


@pytest.fixture(scope="module")
def study(engine, tmp_path_factory):
    from tests.conftest import random_sae

    root = tmp_path_factory.mktemp("layers")
    old, engine.config.cache_dir = engine.config.cache_dir, root / "cache"
    folders = []
    for layer in (3, 5):
        random_sae(engine.d_model, 64, f"blocks.{layer}.hook_resid_post", seed=layer).save_model(
            str(root / f"r{layer}")
        )
        folders.append(str(root / f"r{layer}"))
    names = [engine.add_sae(f).name for f in folders]
    spec = SteeringSpec(latents=tuple(SteerLatent(names[1], 5, i, mean_act=3.0) for i in (1, 2)), alpha=2.0)
    recipe = Recipe("french", "saif_topk", spec, k=2, fidelity_threshold=15.0,
                    validation={"controls": {"mean_difference": {"alpha": 1.0}}})  # fmt: skip
    contents = steering_study.reporting_contents()[:4]
    mp = pytest.MonkeyPatch()
    mp.setattr(layers_study, "shipped_saes", lambda: folders)
    try:
        shipped = steering_study.run_instruction(engine, recipe, lambda _: None, contents=contents, decoding=SHORT)
        doc = {"key_digest": "x", "result": shipped}
        result = layers_study.run_instruction(engine, recipe, doc, lambda _: None, decoding=SHORT, search=SEARCH)
        yield shipped, result
    finally:
        mp.undo()
        for name in names:
            engine.remove_sae(name)
        engine.config.cache_dir = old


def test_every_layer_in_order_with_its_validation_choice(study) -> None:
    _, result = study
    assert [b["layer"] for b in result["layers"]] == [3, 5] and result["deepest"] == 5
    for b in result["layers"]:
        tried = b["validation"]
        assert [c["alpha"] for c in tried] == [1.0, 4.0] and all(
            c["n"] == 2 and c["k"] == len(b["latents"]) for c in tried
        )
        assert b["alpha"] in (1.0, 4.0) and len(b["latents"]) <= 5


def test_layers_are_judged_on_the_test_contents_against_the_deepest(study) -> None:
    shipped, result = study
    for b in result["layers"]:
        assert [o["id"] for o in b["outputs"]] == shipped["contents"]
        assert b["success"]["rate"] == sum(o["success"] for o in b["outputs"]) / 4
        assert b["paired_vs_deepest"]["fluent_strict"]["n"] == 4
    deepest = result["layers"][-1]
    assert deepest["paired_vs_deepest"]["success"]["p"] == 1.0  # itself


def test_two_layers_at_once_is_tried_on_validation_and_tested_only_if_it_wins(study) -> None:
    shipped, result = study
    two = result["two_layers"]
    assert sorted(two["layers"]) == [3, 5] and [t["scale"] for t in two["validation"]] == [0.5, 1.0]
    assert all(t["n"] == 2 for t in two["validation"]) and two["scale"] in (0.5, 1.0)
    if two["beats_single_layer_on_validation"]:
        assert [o["id"] for o in two["outputs"]] == shipped["contents"]
    else:
        assert "outputs" not in two and "success" not in two


def test_an_unattached_shipped_sae_is_a_clear_error(engine, monkeypatch) -> None:
    monkeypatch.setattr(layers_study, "shipped_saes", lambda: ["/nowhere/L99_missing"])
    with pytest.raises(SaifError, match="not attached: L99_missing"):
        layers_study._saes_by_layer(engine)
