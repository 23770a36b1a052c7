"""Answers streamed from a worker thread: snapshots then the result, errors re-raised in the caller, a Stop (or a caller
that goes away) ends the computation, the result cache answers a repeat at once and never keeps a stopped answer; then
the backend's streamed answers on the real model. Synchronised with events, never with sleeps."""

from __future__ import annotations

import threading

import pytest

from saif_ui.engine.cache import ResultCache
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.watch import Watch
from saif_ui.saif.steering.compare import Comparison
from saif_ui.service import Backend
from saif_ui.service import streaming as streaming_module
from saif_ui.service.controls import PromptChoice, SteerControls
from saif_ui.service.steering import Steered
from saif_ui.service.streaming import Done, Finished, Partial, Streams, cached, watched, whole

WAIT_S = 60
"""A bound on waits for the other thread, so a broken test fails instead of hanging (never reached when it works)."""


def no_worker(*args, **kwargs):
    raise AssertionError("a cached result started a worker")


def test_snapshots_then_the_result_each_text_as_it_comes() -> None:
    first, second = threading.Event(), threading.Event()

    def compute(watch: Watch) -> str:
        watch.on_texts(["a", ""])
        assert first.wait(WAIT_S)
        watch.on_texts(["ab", "c"])
        assert second.wait(WAIT_S)
        return "done"

    updates = watched(compute, every=0.0)
    assert next(updates) == ["a", ""]
    first.set()
    assert next(updates) == ["ab", "c"]
    second.set()
    assert list(updates) == [Done("done")]


def test_only_the_newest_snapshot_matters_and_the_result_ends_the_wait() -> None:
    first = threading.Event()

    def compute(watch: Watch) -> str:
        watch.on_texts(["a"])
        assert first.wait(WAIT_S)
        for text in ("ab", "abc", "abcd"):
            watch.on_texts([text])
        return "abcde"

    updates = watched(compute, every=3600.0)  # after the first text, nothing more within the hour but the result
    assert next(updates) == ["a"]  # the first text goes out at once, throttle or not
    first.set()
    assert list(updates) == [Done("abcde")]


def test_an_error_of_the_worker_is_raised_in_the_caller_with_its_message() -> None:
    def compute(watch: Watch) -> str:
        watch.on_texts(["so far"])
        raise SaifError("latent ids of rand2 are whole numbers 0..31, not 40")

    updates = watched(compute, every=0.0)
    with pytest.raises(SaifError, match=r"^latent ids of rand2 are whole numbers 0\.\.31, not 40$"):
        for update in updates:
            assert update == ["so far"]


def test_a_stop_ends_the_computation_which_keeps_what_it_wrote() -> None:
    streams = Streams()

    def compute(watch: Watch) -> str:
        watch.on_texts(["Bonjour"])
        assert watch.stop.wait(WAIT_S)  # a generation stopping at its next token
        return "Bonjour (stopped)"

    with streams.open("alice", "steer") as stop, streams.open("alice", "answers") as other:
        updates = watched(compute, stop, every=0.0)
        assert next(updates) == ["Bonjour"]
        assert streams.running() == {"alice": ["steer", "answers"]}
        assert streams.stop("alice", "steer") and not other.is_set()  # one panel's Stop reaches that panel only
        assert list(updates) == [Done("Bonjour (stopped)")]
    assert streams.running() == {} and not streams.stop("alice")  # nothing left behind


def test_a_caller_that_goes_away_stops_the_worker() -> None:
    stopped = threading.Event()

    def compute(watch: Watch) -> None:
        watch.on_texts(["x"])
        if watch.stop.wait(WAIT_S):
            stopped.set()

    updates = watched(compute, every=0.0)
    assert next(updates) == ["x"]
    updates.close()  # what gradio's cancel or a closed page leads to
    assert stopped.wait(WAIT_S)


def test_the_whole_twin_takes_the_same_arguments_and_returns_what_the_stream_ends_with() -> None:
    calls = []

    def stream(a: int, b: int = 1):
        calls.append((a, b))
        yield Partial({"x": "p"})
        yield a * 10 + b

    assert whole(stream)(4, b=2) == 42
    assert calls == [(4, 2)]
    assert whole(stream).__name__ == "stream"

    def broken(n: int):
        yield Partial({"x": "p"})
        yield from range(n)

    with pytest.raises(RuntimeError, match="one result, not 2"):
        whole(broken)(2)
    with pytest.raises(RuntimeError, match="one result, not 0"):
        whole(broken)(0)


def test_the_cache_answers_a_repeat_at_once_and_never_keeps_a_stopped_or_failed_result(monkeypatch) -> None:
    results, calls = ResultCache(), []

    def compute(watch: Watch) -> dict[str, str]:
        calls.append(watch)
        watch.on_texts(["Bonjour", "Hello"])
        if len(calls) == 1:
            assert watch.stop.wait(WAIT_S)
            return {"text": "Bonjour"}
        return {"text": "Bonjour le monde"}

    stop = threading.Event()
    first = cached(results, "steer", {"k": 1}, compute, ("prompted", "original"), stop, every=0.0)
    assert next(first) == Partial({"prompted": "Bonjour", "original": "Hello"})
    stop.set()
    assert list(first) == [Finished({"text": "Bonjour"}, cached=False, stopped=True)]
    assert results.peek("steer", {"k": 1}) is None  # stopped: not stored
    whole = list(cached(results, "steer", {"k": 1}, compute, ("prompted", "original"), every=0.0))
    assert whole[-1] == Finished({"text": "Bonjour le monde"}, cached=False) and len(calls) == 2  # computed again
    monkeypatch.setattr(streaming_module, "watched", no_worker)
    assert list(cached(results, "steer", {"k": 1}, compute, ("prompted",))) == [
        Finished({"text": "Bonjour le monde"}, True)
    ]
    monkeypatch.undo()

    def broken(watch: Watch) -> dict[str, str]:
        raise SaifError("bad")

    with pytest.raises(SaifError, match="bad"):
        list(cached(results, "other", {}, broken, ()))
    assert results.peek("other", {}) is None


# ---------------------------------------------------------------- the backend's streamed answers (real model)


def growing(partials: list[Partial], column: str, final: str) -> bool:
    """Each snapshot of `column` no shorter than the one before, none longer than the final text."""
    lengths = [len(p.texts[column]) for p in partials]
    return lengths == sorted(lengths) and all(n <= len(final) for n in lengths)


def test_streamed_answers_grow_into_the_plain_ones_and_a_repeat_comes_at_once(engine, held, monkeypatch) -> None:
    choice = PromptChoice("french", content="Foxes dig dens in soft ground near the forest edge.")
    streamed = Backend(engine)
    updates = []
    for update in streamed.instructions.answers_stream(choice, Decoding(max_new_tokens=12)):
        updates.append(update)
        if isinstance(update, Partial) and any(update.texts.values()):
            held.set()  # seen written: let the generation go on
    *partials, final = updates
    assert all(isinstance(p, Partial) for p in partials) and isinstance(final, Comparison)
    assert any(p.texts["original"] or p.texts["prompted"] for p in partials)
    for mode in ("original", "prompted"):
        assert growing(partials, mode, final.outputs[mode].text)
    engine.generations.clear()
    plain = Backend(engine).instructions.answers(choice, Decoding(max_new_tokens=12))  # no cached result: computed
    assert plain.to_dict() == final.to_dict() and "steered" not in final.outputs
    monkeypatch.setattr(streaming_module, "watched", no_worker)
    [again] = list(streamed.instructions.answers_stream(choice, Decoding(max_new_tokens=12)))
    assert isinstance(again, Comparison) and again.to_dict() == final.to_dict()


def test_a_stopped_steer_keeps_its_prefix_is_marked_and_is_computed_again(backend, rand_sae, held) -> None:
    choice = PromptChoice("french", content="Rivers carve valleys over thousands of years.")
    controls = SteerControls.parse(["3", "5"], [1.0, 0.5], 4.0, scale="unit")
    decoding = Decoding(max_new_tokens=8)
    shown, stopped = None, None
    with backend.streams.open("alice", "steer") as stop:
        for update in backend.steering.steer_stream(choice, rand_sae, controls, None, decoding, stop=stop):
            if isinstance(update, Partial) and shown is None and any(update.texts.values()):
                shown = update.texts
                assert backend.streams.stop("alice", "steer")  # what the visitor's Stop does
                held.set()
            elif isinstance(update, Steered):
                stopped = update
    assert shown is not None and stopped is not None and stopped.comparison.stopped and not stopped.cached
    assert set(stopped.comparison.outputs) == {"original", "steered", "prompted"}
    for mode, out in stopped.comparison.outputs.items():
        assert not out.finished and out.text.startswith(shown[mode])  # what was shown, and at most a token more
    whole = backend.steering.steer(choice, rand_sae, controls, None, decoding)
    assert not whole.cached and not whole.comparison.stopped  # the stopped one was not stored
    cut = {mode: out.text for mode, out in stopped.comparison.outputs.items()}
    assert all(out.text.startswith(cut[mode]) for mode, out in whole.comparison.outputs.items())  # greedy: a prefix
    assert any(len(out.text) > len(cut[mode]) for mode, out in whole.comparison.outputs.items())


def test_an_error_in_the_worker_reads_as_the_plain_call_says_it(backend) -> None:
    from saif_ui.saif.steering.spec import SteeringSpec, SteerVector

    choice = PromptChoice("french", content="Moss grows on the north side.")
    spec = SteeringSpec(vectors=(SteerVector(3, (1.0, 2.0, 3.0)),))  # not the model's width: the engine refuses it
    with pytest.raises(SaifError) as plain:
        backend.steering.steer_spec(choice, spec, Decoding(max_new_tokens=4))
    with pytest.raises(SaifError) as streamed:
        list(backend.steering.steer_spec_stream(choice, spec, Decoding(max_new_tokens=4)))
    assert str(streamed.value) == str(plain.value) and str(plain.value)
