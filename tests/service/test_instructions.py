"""The backend's instructions part: the catalogue and contents as listed, the exact prompt pair, and a content id
that does not exist."""

from __future__ import annotations

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.service.controls import PromptChoice


def test_the_lists_lead_with_the_fair_demo_and_end_with_a_custom_entry(backend) -> None:
    part = backend.instructions
    assert part.choices()[-1] == ("✎ write your own…", "custom")
    assert [v for _, v in part.choices()[:-1]] == list(part.catalogue_ids()) and "french" in part.catalogue_ids()
    splits = [label.split(" · ")[1] for label, _ in part.content_choices()]
    assert "discovery" not in splits[: splits.index("discovery")] and splits[-1] == "discovery"
    assert part.checker_of("french") == part.resolve(PromptChoice("french")).checker and part.checker_of(None) is None
    assert part.checker_choices()[0] == "none" and len(part.checker_choices()) > 1


def test_the_prompt_pair_differs_by_the_instruction_only(backend) -> None:
    part = backend.instructions
    first = part.content_choices()[0][1]
    text = part.content_text(first)
    positive, negative = part.prompts(PromptChoice("french", content=text))
    canonical = part.resolve(PromptChoice("french")).canonical
    assert text in positive and text in negative and canonical in positive and canonical not in negative
    with pytest.raises(SaifError, match="unknown content 'nope'"):
        part.content_text("nope")
