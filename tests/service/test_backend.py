"""The backend: parts that share one context, a visitor leaving, and the playground's plain generate."""

from __future__ import annotations

import pytest

from saif_ui.engine.errors import SaifError


def test_the_parts_share_one_context(backend) -> None:
    parts = (backend.saes, backend.instructions, backend.discovery, backend.steering, backend.training)
    assert all(p.context is backend.context for p in parts)
    assert backend.jobs is backend.context.jobs and backend.shelf is backend.context.shelf
    assert backend.model_id == backend.engine_info()["model"]


def test_a_visitor_leaving_stops_their_job_only(backend) -> None:
    with backend.jobs.run("alice", "sweep") as alice, backend.jobs.run("bob", "sweep") as bob:
        assert backend.end_session("alice") == []  # nothing attached: nothing detached
        assert alice.is_set() and not bob.is_set()


def test_the_playground_answers_a_plain_message(backend) -> None:
    with pytest.raises(SaifError, match="Write a prompt first"):
        backend.generate("  ", 4, True)
    prompt, answer = backend.generate("Say hi.", 4, False)
    assert "Say hi." in prompt and isinstance(answer, str)
