"""The headline verdict of an evaluation: compliant, not a loop, and faithful to its content (no model needed)."""

from __future__ import annotations

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.saif.steering.compare import Output
from saif_ui.saif.steering.evaluate import EvalConfig, Evaluation, Summary, is_success
from saif_ui.saif.steering.spec import SteeringSpec


def _out(strict: bool, repetition: float = 0.0, chrf: float | None = 50.0, oid: str = "") -> Output:
    fid = None if chrf is None else {"content": 20.0, "content_mismatched": 10.0, "prompted": chrf,
                                     "prompted_mismatched": 12.0}  # fmt: skip
    return Output("x", strict, strict, None, repetition, True, oid, fid)


def test_success_needs_compliance_no_loop_and_fidelity() -> None:
    assert is_success(_out(True), 0.5, 30.0)
    assert not is_success(_out(False), 0.5, 30.0)  # not compliant
    assert not is_success(_out(True, repetition=0.9), 0.5, 30.0)  # a loop
    assert not is_success(_out(True, chrf=20.0), 0.5, 30.0)  # fluent French about something else
    assert not is_success(_out(True, chrf=None), 0.5, 30.0)  # never scored: never a success


def test_summary_reports_success_with_its_interval_and_chrf_means() -> None:
    outs = [_out(True), _out(True, chrf=10.0), _out(True, repetition=0.9), _out(False)]
    s = Summary.of(outs, 0.5, threshold=30.0)
    assert (s.strict, s.fluent_strict, s.success) == (0.75, 0.5, 0.25)
    d = s.to_dict()
    assert d["success"] == 0.25 and d["ci"]["success"] == list(s.ci(0.25))
    assert d["chrf"]["prompted"] == pytest.approx((50 + 10 + 50 + 50) / 4) and d["chrf"]["content"] == 20.0
    assert Summary.from_dict(d) == s
    plain = Summary.of(outs, 0.5)  # no threshold: no success rate, and none claimed
    assert plain.success is None and "success" not in plain.to_dict()["ci"]


def test_evaluation_pairs_and_ranks_on_the_headline() -> None:
    steered = [_out(True, oid="a"), _out(True, oid="b"), _out(True, chrf=5.0, oid="c"), _out(False, oid="d")]
    original = [_out(False, oid=i) for i in "abcd"]
    ev = Evaluation(
        instruction="french",
        checker="french",
        layer=[24],
        spec=SteeringSpec(),
        config=EvalConfig(alphas=(1.0, 2.0), fidelity_threshold=30.0),
        alphas=(1.0, 2.0),
        contents=list("abcd"),
        steered={1.0: steered, 2.0: [_out(True, chrf=1.0, oid=i) for i in "abcd"]},
        baselines={"original": original, "prompted": steered},
    )
    assert ev.headline == "success" and ev.verdicts(steered) == [True, True, False, False]
    assert ev.verdicts(steered, "fluent_strict") == [True, True, True, False]
    assert ev.best_alpha() == 1.0  # α = 2 is compliant everywhere but faithful nowhere
    paired = ev.paired(1.0, "original")
    assert (paired.a, paired.b, paired.only_a) == (2, 0, 2)
    d = ev.to_dict()
    assert d["headline"] == "success" and d["results"][0]["success"] == 0.5
    assert Evaluation.from_dict(d).to_dict() == d
    with pytest.raises(SaifError, match="unknown verdict"):
        ev.verdicts(steered, "vibes")
