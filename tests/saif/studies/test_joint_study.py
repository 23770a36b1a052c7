"""The joint study on the real model, shrunk: weights chosen on validation only, every method on the same test
contents, judged by both checkers, controls at each part's norm."""

from __future__ import annotations

import pytest

from saif_ui.engine.config import shipped_saes
from saif_ui.engine.decoding import Decoding
from saif_ui.saif.discovery.discover import pick_contents
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.steering.recipe import require_recipe
from saif_ui.saif.studies.joint_study import PAIRS, controls, joint_of, run_pair

PAIR = ("french", "postscript")


@pytest.fixture(scope="module")
def saes(engine, tmp_path_factory):
    """The shipped SAEs the pair's recipes steer (L24 and L08), with a private cache."""
    old, engine.config.cache_dir = engine.config.cache_dir, tmp_path_factory.mktemp("cache")
    wanted = {e.sae for i in PAIR for e in require_recipe(i).spec.latents}
    added = [engine.add_sae(p).name for p in shipped_saes() if p.rstrip("/").split("/")[-1] in wanted]
    try:
        yield added
    finally:
        for name in added:
            engine.remove_sae(name)
        engine.config.cache_dir = old


@pytest.fixture(scope="module")
def study(engine, saes):
    validation = pick_contents(load_contents("validation"), 4)
    test = pick_contents(load_contents("test"), 4)
    return run_pair(engine, PAIR, lambda _: None, validation=validation, test=test, decoding=Decoding(max_new_tokens=6))


def test_the_weights_are_chosen_on_validation_and_steer_with_both(study) -> None:
    val, test = study["validation"], study["test"]
    assert not set(val["contents"]) & set(test["contents"])
    assert study["weights"] == val["chosen_weights"] and all(study["weights"])
    assert study["weights"] in [c["weights"] for c in val["cells"]]
    assert len(val["cells"]) == 8 and {"original", "prompted"} <= set(val["baselines"])
    assert study["fidelity_threshold"] == val["fidelity_threshold"]  # chosen on validation, applied on test


def test_every_method_on_the_same_test_contents_judged_by_both_checkers(study) -> None:
    methods = study["test"]["methods"]
    expected = {"original", "prompted", "prompted_french", "prompted_postscript", "joint", "random_latents",
                "mean_difference", "steered_french", "steered_postscript"}  # fmt: skip
    assert set(methods) == expected
    tau = study["fidelity_threshold"]
    for name, m in methods.items():
        rows = m["outputs"]
        assert [r["id"] for r in rows] == study["test"]["contents"], name
        assert all(set(r["verdicts"]) == set(PAIR) and r["strict"] == all(r["verdicts"].values()) for r in rows)
        assert m["success"]["k"] == sum(r["success"] for r in rows) and m["success"]["n"] == 4
        assert all(r["success"] <= (r["strict"] and r["repetition"] <= 0.5 and r["chrf"] >= tau) for r in rows)
        low, high = m["success"]["ci"]
        assert low <= m["success"]["rate"] <= high
        assert ("paired_joint" in m) == (name != "joint")
    # The prompted answers are the reference of fidelity: each is faithful to itself.
    assert all(r["chrf"] == pytest.approx(100.0) for r in methods["prompted"]["outputs"] if r["text"].strip())


def test_controls_add_each_part_at_its_weighted_norm(engine, saes) -> None:
    recipes = [require_recipe(i) for i in PAIR]
    joint = joint_of(recipes, (2.0, 1.0))
    for name, control in controls(engine, recipes, (2.0, 1.0)).items():
        assert control.weights == (2.0, 1.0) and control.instructions == PAIR
        if name == "random_latents":
            assert control.norms(engine) == pytest.approx(joint.norms(engine), rel=1e-4)


def test_the_study_pairs_two_different_instructions_with_recipes() -> None:
    for pair in PAIRS:
        assert len(set(pair)) == 2 and all(require_recipe(i).instruction == i for i in pair)
