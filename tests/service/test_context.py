"""What the backend's parts share: the placement, a custom instruction, latent ids and the remembered discoveries."""

from __future__ import annotations

from dataclasses import replace

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.service.context import CUSTOM, MAX_DISCOVERIES, Context, as_placement
from saif_ui.service.controls import PromptChoice
from tests.service.test_session import RESULT


def test_placement_is_validated() -> None:
    assert as_placement("pre") == "pre"
    with pytest.raises(ValueError, match="post or pre"):
        as_placement("none")


def test_an_instruction_is_a_catalogue_id_or_wordings_one_per_line(engine) -> None:
    ctx = Context(engine)
    assert ctx.instruction(PromptChoice("french")) == ctx.catalogue.get("french")
    custom = ctx.instruction(PromptChoice(CUSTOM, "  Answer like a pirate.\n\nTalk like a pirate. ", "none"))
    assert custom.canonical == "Answer like a pirate." and custom.checker is None and custom.id.startswith("custom_")
    with pytest.raises(SaifError, match="pick an instruction first"):
        ctx.instruction(PromptChoice(None))
    with pytest.raises(SaifError, match="write your instruction"):
        ctx.instruction(PromptChoice(CUSTOM, " \n "))


def test_latent_ids_are_whole_numbers_below_d_sae(engine, rand_sae) -> None:
    ctx = Context(engine)
    assert ctx.latent_id(rand_sae, 5.0) == 5 and ctx.latent_id(rand_sae, 31) == 31
    for bad in (32, -1, 1.5, True, float("nan"), "3", None):
        with pytest.raises(SaifError, match=r"whole numbers 0\.\.31"):
            ctx.latent_id(rand_sae, bad)


def test_discoveries_are_remembered_with_their_statistics_in_a_bounded_lru(engine) -> None:
    ctx = Context(engine)
    assert ctx.full(None) is None and ctx.full(RESULT) is RESULT  # nothing remembered: the rows as they are
    kept = [replace(RESULT, cache_key=f"k{i}") for i in range(MAX_DISCOVERIES + 3)]
    for result in kept:
        ctx.remember(result)
    assert ctx.full(replace(RESULT, cache_key=kept[-1].cache_key, stats=None)) is kept[-1]
    assert ctx.full(kept[0]) is kept[0] and len(ctx._discoveries) == MAX_DISCOVERIES
    assert "k0" not in ctx._discoveries  # the oldest went first
