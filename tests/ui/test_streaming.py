"""Answers stream to the page: the served app's /steer yields its answers as they grow and then the render it always
gave (which is all `predict` returns), and the Stop beside Steer cancels both answer events and stops the visitor's
generation at the next token, keeping what was written and caching nothing. The generation is held after its first
token until the test has seen it (the `held` fixture), so nothing depends on the machine's speed."""

from __future__ import annotations

import time
from types import SimpleNamespace

from gradio_client import Client

WAIT_S = 300
STEER = {"latents": ["436", "2070"], "scale": "unit", "alpha": 6.0, "instruction": "french"}


def first_partial(job) -> tuple:
    """The first output of `job` showing some answer text (polled: the client receives outputs in its own thread)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        shown = [out for out in job.outputs() if any(out[0:6:2])]
        if shown:
            return shown[0]
        if job.done():
            raise AssertionError(f"the job ended without a partial answer: {job.outputs()}")
        time.sleep(0.05)
    raise AssertionError("no partial answer arrived")


def test_steer_streams_its_answers_and_predict_gets_the_whole_render(served, held) -> None:
    client = Client(served[1].local_url, verbose=False)
    kw = {**STEER, "content": "Herons stand still in shallow water to fish.", "max_new_tokens": 12}
    job = client.submit(**kw, api_name="/steer")
    partial = first_partial(job)
    assert partial[1::2][:3] == ("", "", "")  # the verdicts come with the whole answers
    held.set()
    final = job.result(timeout=WAIT_S)
    original, v_orig, _, v_steer, _, v_prompt, _, _, spec = final
    assert all("**french**: strict" in v for v in (v_orig, v_steer, v_prompt)) and spec.startswith("{")
    outputs = job.outputs()
    assert len(outputs) >= 2 and tuple(outputs[-1]) == tuple(final)
    for i in (0, 2, 4):  # each answer only grows, up to the whole one
        lengths = [len(out[i]) for out in outputs]
        assert lengths == sorted(lengths)
    assert original.startswith(partial[0]) and len(original) > len(partial[0])
    assert client.predict(**kw, api_name="/steer") == final  # a repeat: the cached render, at once


def test_stop_cancels_the_answer_events_and_ends_the_generation_keeping_what_was_written(served, held) -> None:
    demo = served[1]
    fns = list(demo.fns.values())
    by_name = {f.api_name: f for f in fns}
    stop = by_name["stop_steer"]
    cancel = next(f for f in fns if f.is_cancel_function and f.targets == stop.targets)
    assert {by_name["steer"]._id, by_name["steer_recipe"]._id} <= set(cancel.cancels)
    client = Client(demo.local_url, verbose=False)
    kw = {**STEER, "content": "Glaciers move slowly down the valley.", "max_new_tokens": 24}
    job = client.submit(**kw, api_name="/steer")
    partial = first_partial(job)
    stop.fn(SimpleNamespace(session_hash=client.session_hash))  # what pressing Stop runs for this visitor
    held.set()
    final = job.result(timeout=WAIT_S)  # the stop's flag alone: the handler ends with the stopped answers judged
    for i in (0, 2, 4):  # held after a token, stopped at the next one: what was shown, and at most a token more
        assert final[i].startswith(partial[i]) and final[i] and "stopped" in final[i + 1]
    original = final[0]
    whole = client.predict(**kw, api_name="/steer")  # not cached: generated again, to the end
    assert whole[0].startswith(original) and len(whole[0]) > len(original) and "stopped" not in whole[1]
