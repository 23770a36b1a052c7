"""Tests for saif_ui.saif.compare, evaluate, fluency and special: the three modes, the sweep and its baselines."""

from __future__ import annotations

import pytest

from saif_ui.saif.compare import Decoding, compare, run_modes
from saif_ui.saif.contents import load_contents
from saif_ui.saif.discovery import DiscoveryConfig, discover
from saif_ui.saif.evaluate import MEAN_ACT_ALPHAS, EvalConfig, default_alphas, evaluate
from saif_ui.saif.fluency import perplexity
from saif_ui.saif.special import PAPER_ALPHAS, default_special_latent, special_token_grid
from saif_ui.saif.steer import SteeringSpec, SteerLatent, spec_from_discovery

SHORT = Decoding(max_new_tokens=8)


@pytest.fixture(scope="module")
def spec(engine, l24):
    return spec_from_discovery(discover(engine, "french", l24, DiscoveryConfig(n_contents=6)), k=5)


def test_compare_builds_the_three_prompts_right(engine, spec) -> None:
    c = compare(engine, "french", "Bees make honey from nectar.", spec, decoding=SHORT)
    assert set(c.outputs) == {"original", "steered", "prompted"}
    assert c.prompts["original"] == c.prompts["steered"]
    assert "Translate the text into French." not in c.prompts["original"]
    assert "Bees make honey from nectar.\n\nTranslate the text into French." in c.prompts["prompted"]
    d = c.to_dict()
    for mode in ("original", "steered", "prompted"):
        assert isinstance(d[mode]["text"], str) and d[mode]["strict"] in (True, False)
    assert d["spec"]["latents"][0]["latent"] == spec.latents[0].latent
    pre = compare(engine, "french", "Bees make honey.", spec, placement="pre", prompted_steered=True, decoding=SHORT)
    assert pre.prompts["prompted"].index("Translate the text") < pre.prompts["prompted"].index("Bees make honey.")
    assert "prompted_steered" in pre.outputs


def test_repeated_request_is_served_from_the_generation_cache(engine, spec) -> None:
    content = [("a", "Mountains are cold at the top.")]
    first, _ = run_modes(engine, "french", content, spec, ["steered"], decoding=SHORT)
    calls = engine.generations.stats()
    again, _ = run_modes(engine, "french", content, spec, ["steered"], decoding=SHORT)
    assert again["steered"][0].text == first["steered"][0].text
    assert engine.generations.stats()["hits"] > calls["hits"]


def test_evaluate_reports_every_alpha_and_both_baselines(engine, spec) -> None:
    contents = list(load_contents("heldout")[:2])
    ev = evaluate(engine, "french", spec, contents, EvalConfig(alphas=(0.0, 8.0), decoding=SHORT))
    d = ev.to_dict()
    assert [r["alpha"] for r in d["results"]] == [0.0, 8.0]
    assert set(d["baselines"]) == {"original", "prompted"}
    for block in [*d["results"], *d["baselines"].values()]:
        assert {"strict", "loose", "fluent_strict", "fluency", "outputs"} <= set(block)
        assert [o["id"] for o in block["outputs"]] == [c.id for c in contents]
    # α = 0 is the unsteered model: identical to the original baseline.
    assert [o["text"] for o in d["results"][0]["outputs"]] == [o["text"] for o in d["baselines"]["original"]["outputs"]]
    assert d["best_alpha"] in (0.0, 8.0)


def test_evaluate_defaults_to_held_out_contents_and_a_scale_aware_sweep(spec) -> None:
    assert default_alphas(spec) == MEAN_ACT_ALPHAS
    unit = SteeringSpec(latents=(SteerLatent("x", 1, 1, mean_act=10.0),), scale="unit")
    assert default_alphas(unit) == tuple(10.0 * a for a in MEAN_ACT_ALPHAS)
    with pytest.raises(ValueError, match="alphas must not be empty"):
        EvalConfig(alphas=())


def test_perplexity_prefers_fluent_text(engine) -> None:
    fluent, loop, short = perplexity(
        engine, ["The weather is nice today, so we went for a walk.", "walk the the of of a a", "Hi"]
    )
    assert fluent is not None and loop is not None and fluent < loop
    assert short is None


def test_special_token_grid_runs_on_the_paper_grid(engine, l24) -> None:
    latent, token = default_special_latent(engine, l24)
    assert token  # the shipped report names the special token it fires on
    grid = special_token_grid(
        engine, l24, "Tell me about tea.", alphas=(0.0, 200.0), decoding=SHORT, instruction="french"
    )
    assert grid["latent"] == latent and [r["alpha"] for r in grid["rows"]] == [0.0, 200.0]
    assert grid["rows"][0]["text"] != grid["rows"][1]["text"]
    assert "strict" in grid["rows"][0]
    assert PAPER_ALPHAS == (0.0, 15.0, 25.0, 50.0, 100.0, 150.0, 200.0)
