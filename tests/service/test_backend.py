"""The backend: parts that share one context, a visitor leaving, and the playground's generate, plain and streamed."""

from __future__ import annotations

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.service import Partial


def test_the_parts_share_one_context(backend) -> None:
    parts = (backend.saes, backend.instructions, backend.discovery, backend.steering, backend.training)
    assert all(p.context is backend.context for p in parts)
    assert backend.jobs is backend.context.jobs and backend.shelf is backend.context.shelf
    assert backend.model_id == backend.engine_info()["model"]


def test_a_visitor_leaving_stops_their_job_only(backend) -> None:
    with backend.jobs.run("alice", "sweep") as alice, backend.jobs.run("bob", "sweep") as bob:
        assert backend.end_session("alice") == []  # nothing attached: nothing detached
        assert alice.is_set() and not bob.is_set()


def test_a_visitor_leaving_stops_their_streamed_answers_in_every_panel(backend) -> None:
    with (
        backend.streams.open("alice", "steer") as steer,
        backend.streams.open("alice", "answer") as answer,
        backend.streams.open("bob", "steer") as bob,
    ):
        backend.end_session("alice")
        assert steer.is_set() and answer.is_set() and not bob.is_set()


def test_the_playground_answers_a_plain_message(backend) -> None:
    with pytest.raises(SaifError, match="Write a prompt first"):
        backend.generate("  ", Decoding(max_new_tokens=4), True)
    prompt, answer = backend.generate("Say hi.", Decoding(max_new_tokens=4), False)
    assert "Say hi." in prompt and isinstance(answer, str)


def test_the_playground_streams_its_answer_into_the_plain_one(backend, held) -> None:
    with pytest.raises(SaifError, match="Write a prompt first"):
        backend.generate_stream("  ", Decoding(max_new_tokens=4), True)  # bad input is refused before anything runs
    backend.engine.generations.clear()  # generated while watched, not read back
    updates = []
    for update in backend.generate_stream("Name two rivers.", Decoding(max_new_tokens=8), False):
        updates.append(update)
        if isinstance(update, Partial) and update.texts["answer"]:
            held.set()
    *partials, (prompt, answer) = updates
    assert all(isinstance(p, Partial) for p in partials) and partials[-1].texts["answer"]
    lengths = [len(p.texts["answer"]) for p in partials]
    assert lengths == sorted(lengths) and answer.startswith(partials[0].texts["answer"])
    assert (prompt, answer) == backend.generate("Name two rivers.", Decoding(max_new_tokens=8), False)
