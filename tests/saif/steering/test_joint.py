"""Tests for saif_ui.saif.steering.joint and joint_eval: two instructions steering together, judged by both."""

from __future__ import annotations

import json

import pytest
import torch

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.discover import pick_contents, resolve_instruction
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.inputs.prompts import build_prompt
from saif_ui.saif.judge.checkers import check
from saif_ui.saif.steering.joint import JointPart, JointSpec, joint_wording
from saif_ui.saif.steering.joint_eval import (
    JointConfig,
    JointEvaluation,
    JointOutput,
    cell_name,
    compare_joint,
    evaluate_joint,
    summarise,
)
from saif_ui.saif.steering.recipe import require_recipe
from saif_ui.saif.steering.spec import SpecError, SteeringSpec, SteerVector

SHORT = Decoding(max_new_tokens=8)


def vector_spec(layer: int, value: float, d: int = 576, positions: str = "all") -> SteeringSpec:
    return SteeringSpec(vectors=(SteerVector(layer, tuple([value] * d)),), alpha=2.0, positions=positions)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pair(l24) -> JointSpec:
    """The French and question recipes (both steer the shipped L24 SAE, attached by `l24`)."""
    return JointSpec(
        (
            JointPart("french", require_recipe("french").spec),
            JointPart("question", require_recipe("question").spec),
        )
    )


def test_a_joint_spec_names_two_or_three_distinct_instructions_with_bounded_weights() -> None:
    a, b = vector_spec(3, 1.0), vector_spec(5, 1.0)
    with pytest.raises(SpecError, match="2 to 3"):
        JointSpec((JointPart("french", a),))
    with pytest.raises(SpecError, match="once"):
        JointSpec((JointPart("french", a), JointPart("french", b)))
    with pytest.raises(SpecError, match="weight"):
        JointPart("french", a, weight=1e6)
    joint = JointSpec((JointPart("french", a, 0.5), JointPart("question", b, 2.0)))
    assert JointSpec.from_dict(json.loads(json.dumps(joint.to_dict()))) == joint
    with pytest.raises(SpecError, match="parts"):
        JointSpec.from_dict({"parts": "french"})
    with pytest.raises(SpecError, match="number"):
        JointSpec.from_dict({"parts": [{"instruction": "french", "spec": a.to_dict(), "weight": "2"}] * 2})
    with pytest.raises(SpecError, match="one weight per instruction"):
        joint.with_weights([1.0])


def test_each_part_keeps_its_layer_and_positions_and_its_weight_scales_its_alpha(engine) -> None:
    a, b = vector_spec(3, 1.0, engine.d_model), vector_spec(5, 0.5, engine.d_model, positions="generated")
    joint = JointSpec((JointPart("french", a, 1.5), JointPart("question", b, 0.0)))
    [only] = joint.steerings(engine)  # weight 0 adds nothing
    assert (only.layer, only.positions) == (3, "all")
    assert torch.allclose(only.vector, torch.full((engine.d_model,), 2.0 * 1.5))
    both = joint.with_weights([1.0, 2.0]).steerings(engine)
    assert [(s.layer, s.positions) for s in both] == [(3, "all"), (5, "generated")]
    assert torch.allclose(both[1].vector, torch.full((engine.d_model,), 0.5 * 2.0 * 2.0))
    assert joint.with_weights([1.0, 2.0]).norms(engine) == pytest.approx((a.norm(engine), 2 * b.norm(engine)), rel=1e-6)


def test_the_weight_grid_is_every_combination_but_all_off_and_is_bounded() -> None:
    cells = JointConfig().cells(2)
    assert len(cells) == 8 and (0.0, 0.0) not in cells and (1.0, 2.0) in cells
    assert JointConfig(weights=((1.0, 1.0),)).cells(2) == ((1.0, 1.0),)
    with pytest.raises(SaifError, match="2 weights"):
        JointConfig(weights=((1.0,),)).cells(2)
    with pytest.raises(SaifError, match="at most"):
        JointConfig(weights=tuple((float(i), 1.0) for i in range(30))).cells(2)


def test_a_joint_answer_succeeds_only_when_every_checker_passes_it_is_no_loop_and_it_is_faithful() -> None:
    good = JointOutput("a", "x", {"french": True, "question": True}, 0.1, 3.0, True, chrf=40.0)
    assert good.strict and good.fluent() and good.success(30.0)
    assert not good.success(None)  # no threshold: no success claimed
    assert not JointOutput("a", "x", {"french": True, "question": False}, 0.1, 3.0, True, chrf=40.0).success(30.0)
    assert not JointOutput("a", "x", {"french": True, "question": True}, 0.9, 3.0, True, chrf=40.0).success(30.0)
    assert not JointOutput("a", "x", {"french": True, "question": True}, 0.1, 3.0, True, chrf=10.0).success(30.0)
    s = summarise([good, JointOutput("b", "y", {"french": True, "question": False}, 0.0, None, True)],
                  ["french", "question"], 30.0)  # fmt: skip
    assert s["joint_strict"]["k"] == 1 and s["joint_strict"]["n"] == 2
    assert s["each"]["french"]["rate"] == 1.0 and s["each"]["question"]["rate"] == 0.5
    low, high = s["success"]["ci"]
    assert 0 < low < 0.5 < high < 1


def test_compare_joint_steers_with_both_recipes_and_prompts_with_both_instructions(engine, pair) -> None:
    content = "Bees make honey from nectar."
    c = compare_joint(engine, pair, content, decoding=SHORT)
    assert set(c.outputs) == {"original", "steered", "prompted"}
    wording = "Translate the text into French. Rewrite the text as a question."
    assert c.wording == joint_wording(["french", "question"]) == wording
    prompted = build_prompt(engine.chat, content, wording, "post").text
    plain = build_prompt(engine.chat, content, None, "none").text
    for mode, prompt, steering in (
        ("original", plain, None),
        ("steered", plain, pair.steerings(engine)),
        ("prompted", prompted, None),
    ):
        [again] = engine.generate([prompt], steering, decoding=Decoding(max_new_tokens=SHORT.max_new_tokens))
        out = c.outputs[mode]
        assert again.cached and out.text == again.text
        for iid in ("french", "question"):
            assert out.verdicts[iid] == check(str(resolve_instruction(iid).checker), out.text).strict
        assert out.strict == all(out.verdicts.values())
    assert c.to_dict()["steered"]["strict"] == c.outputs["steered"].strict


def test_a_part_at_weight_zero_steers_exactly_as_the_other_recipe_alone(engine, pair) -> None:
    contents = pick_contents(load_contents("validation"), 4)
    ev = evaluate_joint(engine, pair, contents, JointConfig(weights=((1.0, 0.0), (1.0, 1.0)), decoding=SHORT))
    french = require_recipe("french").spec.steerings(engine)
    for c, out, told in zip(contents, ev.outputs[cell_name((1.0, 0.0))], ev.outputs["prompted_french"], strict=True):
        # The same rows as the French recipe alone and French prompted alone: the engine's cache holds them under
        # the same keys (same prompt, same steering), so asking for them again generates nothing.
        plain = build_prompt(engine.chat, c.text, None, "none").text
        [again] = engine.generate([plain], french, decoding=Decoding(max_new_tokens=SHORT.max_new_tokens))
        assert again.cached and again.text == out.text
        asked = build_prompt(engine.chat, c.text, resolve_instruction("french").canonical, "post").text
        [again] = engine.generate([asked], None, decoding=Decoding(max_new_tokens=SHORT.max_new_tokens))
        assert again.cached and again.text == told.text
    d = ev.to_dict()
    assert set(d["baselines"]) == {"original", "prompted", "prompted_french", "prompted_question"}
    assert [c["weights"] for c in d["cells"]] == [[1.0, 0.0], [1.0, 1.0]]
    cell = d["cells"][1]
    assert cell["success"]["n"] == 4 and set(cell["paired"]) == {"original", "prompted"}
    assert d["best_weights"] in ([1.0, 0.0], [1.0, 1.0])
    assert "quantile" in d["threshold_source"] and d["fidelity_threshold"] > 0
    # Every answer is scored against the prompted answer of its own content and another's.
    assert all(o.chrf is not None and o.chrf_mismatched is not None for o in ev.outputs[cell_name((1.0, 1.0))])
    assert d["baselines"]["prompted"]["chrf_prompted"] == 100.0


def test_the_chosen_cell_steers_with_both_and_ties_go_to_the_most_compliant() -> None:
    def out(french: bool, question: bool) -> JointOutput:
        return JointOutput("a", "x", {"french": french, "question": question}, 0.0, None, True, chrf=50.0)

    spec = vector_spec(3, 1.0)
    joint = JointSpec((JointPart("french", spec), JointPart("question", spec)))
    cells = ((1.0, 0.0), (1.0, 1.0), (2.0, 2.0), (1.0, 2.0))
    outputs = {
        cell_name((1.0, 0.0)): [out(True, True), out(True, True)],  # the best answers, but one recipe alone
        cell_name((1.0, 1.0)): [out(True, False), out(False, False)],
        cell_name((2.0, 2.0)): [out(True, True), out(True, False)],
        cell_name((1.0, 2.0)): [out(True, True), out(False, True)],
    }
    ev = JointEvaluation(joint, ["a", "b"], cells, outputs, 99.0, "given", JointConfig())
    # No success anywhere (chrF 50 < 99): the most jointly compliant joint cell, then the most passes, then the
    # smaller total weight.
    assert ev.best_cell() == (1.0, 2.0)
    ev.fidelity_threshold = 10.0
    assert ev.best_cell() == (1.0, 2.0)  # one success each for (2, 2) and (1, 2): the smaller total weight
