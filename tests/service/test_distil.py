"""The backend's distillation part on the real engine at a tiny budget: controls checked before anything runs, an
estimate that grows with the work, a run in the background whose steps and checks can be read while it trains, a
result made of labelled latents with its SAE reading and a spec that steers at once (the Steering tab's controls
make the same vector), Stop honoured with the vector so far kept, and a visitor leaving stops theirs."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import torch

from saif_ui.service import (
    MAX_DISTIL_STEPS,
    AlreadyTraining,
    Backend,
    ControlError,
    Decoding,
    DistilControls,
    PromptChoice,
    SaifError,
)
from tests.conftest import TINY_DISTIL as TINY


@pytest.fixture
def tiny(engine, l24) -> Backend:
    backend = Backend(engine)
    backend.distil.base = TINY
    return backend


def form(**change: object) -> DistilControls:
    return replace(DistilControls("french", 24, "sae", 3), **change)


def wait(backend: Backend, session: str, timeout: float = 120) -> None:
    assert backend.distil.queue.wait(timeout), "the distillation did not finish in time"
    view = backend.distil.status(session)
    assert view is not None and not view.run.active


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"instruction": "custom"}, "pick a catalogue instruction"),
        ({"instruction": "nope"}, "french"),  # an unknown id lists the valid ones
        ({"layer": 8}, "layer 8 has no attached SAE.*24"),
        ({"basis": "dense"}, "basis must be one of sae, free"),
        ({"steps": 0}, f"budget must be 1..{MAX_DISTIL_STEPS} steps"),
        ({"steps": MAX_DISTIL_STEPS + 1}, "budget must be"),
    ],
)
def test_a_request_out_of_bounds_is_refused_before_it_is_queued(tiny, change, message) -> None:
    with pytest.raises(SaifError, match=message):
        tiny.distil.start("alice", form(**change))
    assert tiny.distil.status("alice") is None and tiny.distil.queue.queue() == []


def test_the_form_takes_whole_numbers_and_the_estimate_grows_with_the_work(engine, l24) -> None:
    with pytest.raises(ControlError, match="layer must be a whole number"):
        DistilControls.parse("french", 24.5, "sae", 60)
    assert DistilControls.parse("french", 24.0, "free", "60") == DistilControls("french", 24, "free", 60)
    backend = Backend(engine)  # the shipped defaults: 16 contents, 48 tokens, 8 validation contents
    assert backend.distil.layers() == [24] and backend.distil.default_layer() == 24
    default = backend.distil.estimate(24, "sae", 60)
    assert 120 < default < 900  # minutes, not seconds or hours, at the default budget
    assert backend.distil.estimate(24, "sae", 120) > default > backend.distil.estimate(24, "sae", 10)
    assert backend.distil.estimate(24, "free", 60) > backend.distil.estimate(24, "free", 30)
    with pytest.raises(SaifError, match="budget must be"):
        backend.distil.estimate(24, "free", 0)


def test_a_distillation_runs_in_the_background_and_its_result_steers_at_once(tiny, engine, l24) -> None:
    view = tiny.distil.start("alice", form())
    assert view.run.label == "french · sae · L24 · 3 steps" and view.run.estimate_s
    with pytest.raises(AlreadyTraining):
        tiny.distil.start("alice", form())  # one distillation per visitor at a time
    with pytest.raises(SaifError, match="no distilled vector yet"):
        tiny.distil.result("bob")
    wait(tiny, "alice")
    view = tiny.distil.status("alice")
    assert view is not None and view.run.state == "done", view.run.error
    assert [r["step"] for r in view.history] == [1, 2, 3] and all(r["loss"] >= 0 for r in view.history)
    assert view.checks and all(c["n"] == 1 for c in view.checks)  # the validation checks, as they came
    result = tiny.distil.result("alice")
    assert result is view.result and not result.stopped and result.sae == l24
    assert result.summary["basis"] == "sae" and result.summary["layer"] == 24
    # chips: the kept latents, largest |coefficient| first, each with its label (the shipped SAE has cards)
    assert 1 <= len(result.chips) <= TINY.keep
    magnitudes = [abs(c.coefficient) for c in result.chips]
    assert magnitudes == sorted(magnitudes, reverse=True) and any(c.label for c in result.chips)
    assert {c.latent for c in result.chips} == {e.latent for e in result.spec.latents}
    reading = result.reading
    assert reading is not None and set(reading["share"]) == {"5", "10", "20"}
    assert reading["saif_overlap"]["k"] == 20 and reading["effect"] and reading["effect"][0]["sae"] == l24
    # the Steering tab's controls make the same vector, and the spec steers one content right away
    controls = result.steer_controls()
    assert all(abs(s) <= 1 for s in controls.strengths)
    tab = tiny.steering.spec(None, l24, controls).layer_vectors(engine)[24]
    assert torch.allclose(tab, result.spec.layer_vectors(engine)[24], atol=1e-5)
    choice = PromptChoice("spanish", content="The library opens at nine.")  # the vector's own instruction counts
    steered = tiny.distil.steer("alice", choice, Decoding(max_new_tokens=6))
    assert set(steered.comparison.outputs) >= {"original", "steered", "prompted"}
    assert steered.comparison.instruction == "french" and steered.spec == result.spec


def test_stop_keeps_the_vector_trained_so_far_and_a_leaving_visitor_stops_theirs(tiny) -> None:
    tiny.distil.base = replace(TINY, n_val=0)
    tiny.distil.start("alice", form(basis="free", steps=MAX_DISTIL_STEPS))
    deadline = time.monotonic() + 120
    while not (view := tiny.distil.status("alice")).history and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tiny.distil.stop("alice")
    wait(tiny, "alice")
    result = tiny.distil.result("alice")
    assert result.stopped and result.reading is None and not result.chips
    assert 1 <= len(tiny.distil.status("alice").history) < MAX_DISTIL_STEPS  # type: ignore[union-attr]
    with pytest.raises(SaifError, match="free vector is no combination"):
        result.steer_controls()
    assert view.run.active
    tiny.distil.start("bob", form(basis="free", steps=MAX_DISTIL_STEPS))
    tiny.end_session("bob")
    wait(tiny, "bob")
    assert tiny.distil.status("bob").run.state in ("stopped", "done")  # type: ignore[union-attr]
    assert not tiny.distil.stop("alice")  # nothing left to stop
