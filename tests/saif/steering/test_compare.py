"""Tests for saif_ui.saif.steering.compare, evaluate, fluency and special: the modes, the sweep, its baselines."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.watch import Watch
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import discover, resolve_instruction
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.inputs.prompts import build_prompt
from saif_ui.saif.judge.checkers import check
from saif_ui.saif.judge.fluency import degeneration, perplexity
from saif_ui.saif.steering.compare import Comparison, compare, generate_rows, run_modes
from saif_ui.saif.steering.evaluate import REPETITION_LIMIT, EvalConfig, default_alphas, evaluate
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent, SteerVector, spec_from_discovery
from saif_ui.saif.steering.special import default_special_latent, special_token_grid

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
    # Each mode is the greedy generation of its prompt (steered: with the spec's hooks), as the engine gives it for
    # the same request, judged by the instruction's checker and the fluency signals.
    checker = resolve_instruction("french").checker
    d = c.to_dict()
    for mode, steering in (("original", None), ("steered", spec.steerings(engine)), ("prompted", None)):
        [again] = engine.generate([c.prompts[mode]], steering, decoding=Decoding(max_new_tokens=SHORT.max_new_tokens))
        assert again.cached and d[mode]["text"] == again.text and d[mode]["finished"] == again.finished
        verdict = check(checker, again.text)
        assert (d[mode]["strict"], d[mode]["loose"]) == (verdict.strict, verdict.loose)
        assert d[mode]["repetition"] == degeneration(again.text)
        assert d[mode]["perplexity"] == perplexity(engine, [again.text])[0]
    assert [e["latent"] for e in d["spec"]["latents"]] == [e.latent for e in spec.latents]
    pre = compare(engine, "french", "Bees make honey.", spec, placement="pre", prompted_steered=True, decoding=SHORT)
    assert pre.prompts["prompted"].index("Translate the text") < pre.prompts["prompted"].index("Bees make honey.")
    # prompted + steered: the prompted prompt, generated with the spec's hooks.
    assert pre.prompts["prompted_steered"] == pre.prompts["prompted"]
    [both] = engine.generate(
        [pre.prompts["prompted"]], spec.steerings(engine), decoding=Decoding(max_new_tokens=SHORT.max_new_tokens)
    )
    assert both.cached and pre.outputs["prompted_steered"].text == both.text


def test_repeated_request_is_served_from_the_generation_cache(engine, spec) -> None:
    content = [("a", "Mountains are cold at the top.")]
    first, _ = run_modes(engine, "french", content, spec, ["steered"], decoding=SHORT)
    calls = engine.generations.stats()
    again, _ = run_modes(engine, "french", content, spec, ["steered"], decoding=SHORT)
    assert again["steered"][0].text == first["steered"][0].text
    assert engine.generations.stats()["hits"] > calls["hits"]


def test_evaluate_reports_every_alpha_and_both_baselines(engine, spec) -> None:
    contents = list(load_contents("validation")[:2])
    ev = evaluate(engine, "french", spec, contents, EvalConfig(alphas=(0.0, 8.0), decoding=SHORT))
    d = ev.to_dict()
    assert [r["alpha"] for r in d["results"]] == [0.0, 8.0]
    assert set(d["baselines"]) == {"original", "prompted"}
    for block in [*d["results"], *d["baselines"].values()]:
        assert {"strict", "loose", "fluent_strict", "fluency", "outputs"} <= set(block)
        assert [o["id"] for o in block["outputs"]] == [c.id for c in contents]
    # α = 0 is the unsteered model: identical to the original baseline.
    assert [o["text"] for o in d["results"][0]["outputs"]] == [o["text"] for o in d["baselines"]["original"]["outputs"]]
    for block in [*d["results"], *d["baselines"].values()]:  # the rates are those of the listed outputs
        outs = block["outputs"]
        assert block["n"] == 2 and block["strict"] == sum(bool(o["strict"]) for o in outs) / 2
        assert block["loose"] == sum(bool(o["loose"]) for o in outs) / 2
        fluent = [bool(o["strict"]) and o["repetition"] <= REPETITION_LIMIT for o in outs]
        assert block["fluent_strict"] == sum(fluent) / 2
        assert block["fluency"]["repetition"] == pytest.approx(statistics.fmean(o["repetition"] for o in outs))
        ppl = [o["perplexity"] for o in outs if o["perplexity"] is not None]
        assert block["fluency"]["perplexity"] == (statistics.median(ppl) if ppl else None)
    # The best α has the highest fluent strict accuracy, the smaller α on a tie.
    rates = {r["alpha"]: r["fluent_strict"] for r in d["results"]}
    assert d["best_alpha"] == (8.0 if rates[8.0] > rates[0.0] else 0.0)


def test_evaluate_defaults_to_a_scale_aware_sweep(spec) -> None:
    # mean_act scaling: α = 1 is the latents' mean presence; the sweep brackets it by 4x either way.
    assert spec.scale == "mean_act" and default_alphas(spec) == (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    # unit scaling: the same multiples of the latents' mean activation (here (10 + 20) / 2), rounded to 3 decimals.
    unit = SteeringSpec(
        latents=(SteerLatent("x", 1, 1, mean_act=10.0), SteerLatent("x", 1, 2, mean_act=20.0)), scale="unit"
    )
    assert default_alphas(unit) == (3.75, 7.5, 15.0, 30.0, 60.0, 120.0)
    odd = SteeringSpec(latents=(SteerLatent("x", 1, 1, mean_act=1 / 3),), scale="unit")
    assert default_alphas(odd) == (0.083, 0.167, 0.333, 0.667, 1.333, 2.667)
    no_means = SteeringSpec(latents=(SteerLatent("x", 1, 1),), scale="unit")  # nothing to scale by: plain multiples
    assert default_alphas(no_means) == (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    with pytest.raises(ValueError, match="alphas must not be empty"):
        EvalConfig(alphas=())


def test_perplexity_prefers_fluent_text(engine) -> None:
    fluent, loop, short = perplexity(
        engine, ["The weather is nice today, so we went for a walk.", "walk the the of of a a", "Hi"]
    )
    assert fluent is not None and loop is not None and fluent < loop
    assert short is None


def test_special_token_grid_steers_with_the_strongest_special_latent(engine, l24) -> None:
    # The default latent is the shipped report's largest mean max activation on any special token.
    report = json.loads((Path(engine.sae(l24).source) / "report.json").read_text())["special_token_latents"]
    rows = [(row["avg_max"], row["id"], token) for token, table in report.items() for row in table]
    best = max(rows, key=lambda r: r[0])
    assert default_special_latent(engine, l24) == (best[1], best[2])
    content = "Tell me about tea."
    grid = special_token_grid(engine, l24, content, alphas=(0.0, 200.0), decoding=SHORT, instruction="french")
    assert (grid.latent, grid.token, grid.layer, grid.judged) == (best[1], best[2], 24, True)
    assert [r.alpha for r in grid.rows] == [0.0, 200.0]
    # α = 0 adds nothing: the answer is the plain model's to the content alone.
    [plain] = engine.generate(
        [build_prompt(engine.chat, content, None, "none").text], decoding=Decoding(max_new_tokens=8), reuse=False
    )
    assert grid.rows[0].text == plain.text and grid.rows[1].text != plain.text
    checker = resolve_instruction("french").checker
    for row in grid.rows:  # with an instruction, each answer carries that instruction's verdicts
        verdict = check(checker, row.text)
        assert (row.strict, row.loose) == (verdict.strict, verdict.loose)
    assert grid.to_dict()["rows"][1]["strict"] == grid.rows[1].strict and type(grid).from_dict(grid.to_dict()) == grid


def _push(engine, layer: int = 10, norm: float = 8.0) -> SteeringSpec:
    """A fixed random vector at `layer`: a steer that needs no SAE."""
    import torch

    v = torch.randn(engine.d_model, generator=torch.Generator().manual_seed(0))
    return SteeringSpec(vectors=(SteerVector(layer, tuple((v * norm / v.norm()).tolist())),))


def test_a_watched_comparison_reports_its_modes_together_and_ends_as_the_unwatched_one(engine) -> None:
    content, spec, decoding = "Owls hunt at night and sleep by day.", _push(engine), Decoding(max_new_tokens=10)
    plain = compare(engine, "french", content, spec, prompted_steered=True, decoding=decoding)
    engine.generations.clear()  # the watched one must generate, not read the answers back
    seen: list[list[str]] = []
    watched = compare(
        engine, "french", content, spec, prompted_steered=True, decoding=decoding, watch=Watch(seen.append)
    )
    modes = ["original", "steered", "prompted", "prompted_steered"]
    assert watched.to_dict() == plain.to_dict() and not watched.stopped and "stopped" not in watched.to_dict()
    assert len(seen) >= 10 and all(len(texts) == 4 for texts in seen)  # one report per token, every mode in each
    assert seen[0] == ["", "", "", ""] and seen[-1] == [watched.outputs[m].text for m in modes]
    for row in range(4):
        lengths = [len(texts[row]) for texts in seen]
        assert lengths == sorted(lengths)


def test_a_stop_ends_the_running_batch_skips_the_rest_and_marks_the_comparison(engine) -> None:
    prompts = [engine.render(p) for p in ("Hi.", "Name one colour, please.", "Write a long sentence about a river.")]
    calls: list[list[str]] = []

    def on_texts(texts: list[str]) -> None:
        calls.append(texts)
        if texts[1]:  # the second batch wrote its first token
            watch.stop.set()

    watch = Watch(on_texts)
    rows = generate_rows(engine, [(p, []) for p in prompts], Decoding(max_new_tokens=12), batch_size=1, watch=watch)
    assert all(len(texts) == 3 for texts in calls)
    # Batches run shortest prompt first: the first row was whole before the second began, the third never started.
    [first] = engine.generate([prompts[0]], decoding=Decoding(max_new_tokens=12))
    assert first.cached and rows[0] == (first.text, first.finished)
    assert rows[1] == (calls[-1][1], False) and rows[1][0] and rows[2] == ("", False)
    assert [len(texts[0]) for texts in calls] == sorted(len(texts[0]) for texts in calls)
    assert all(texts[2] == "" for texts in calls)
    stop = Watch(lambda texts: stop.stop.set())  # stopped at once: each answer ends at its first token
    c = compare(engine, "french", "Seals sleep in the water.", _push(engine), decoding=Decoding(max_new_tokens=12),
                watch=stop)  # fmt: skip
    assert c.stopped and not any(o.finished for o in c.outputs.values())
    assert Comparison.from_dict(c.to_dict()).stopped and c.to_dict()["stopped"] is True
    early = Watch(calls.append)
    early.stop.set()  # Stop pressed while the request still waited for the model: no batch starts
    c = compare(engine, "french", "Seals sleep in the water.", _push(engine), decoding=Decoding(max_new_tokens=12),
                watch=early)  # fmt: skip
    assert c.stopped and all(o.text == "" and not o.finished and o.strict is False for o in c.outputs.values())
