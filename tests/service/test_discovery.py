"""The backend's discovery part: rows for the session with every latent's statistics kept server-side, and two SAEs
compared side by side (served again from the result cache)."""

from __future__ import annotations

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.service import Partial
from saif_ui.service.controls import PromptChoice

D4 = Decoding(max_new_tokens=4)
CHOICE = PromptChoice("french", content="The cat sat on the mat.")


def test_two_saes_are_compared_side_by_side(backend, rand_saes) -> None:
    part = backend.discovery
    found = part.discover(CHOICE, rand_saes[0], positions="last", score="t", top_k=5, n_contents=2)
    assert found.stats is None and backend.context.full(found).stats is not None and len(found.ids) == 5
    result = part.compare_layers(CHOICE, (rand_saes[0], rand_saes[1]), top_k=5, n_contents=2, decoding=D4)
    assert [(s.sae, s.layer) for s in result.sides] == [(rand_saes[0], 8), (rand_saes[1], 24)]
    for side in result.sides:
        assert [e.latent for e in side.spec.latents] == side.discovery.ids[:5] and side.spec.alpha == 1.0
        assert side.discovery.stats is None
    assert result.instruction == "french" and result.checker == "french"
    again = part.compare_layers(CHOICE, (rand_saes[0], rand_saes[1]), top_k=5, n_contents=2, decoding=D4)
    assert again.to_dict() == result.to_dict()
    [streamed] = part.compare_layers_stream(CHOICE, tuple(rand_saes), top_k=5, n_contents=2, decoding=D4)
    assert streamed.to_dict() == result.to_dict()  # a repeat, streamed: the cached result at once


def test_the_layer_comparison_streams_each_sides_answer(backend, rand_saes, held) -> None:
    updates = []
    for update in backend.discovery.compare_layers_stream(
        CHOICE, tuple(rand_saes), top_k=5, n_contents=2, decoding=Decoding(max_new_tokens=6)
    ):
        updates.append(update)
        if isinstance(update, Partial) and any(update.texts.values()):
            held.set()
    *partials, result = updates
    assert partials and all(set(p.texts) == {"original", *rand_saes, "prompted"} for p in partials)
    whole = {"original": result.original.text, "prompted": result.prompted.text}
    whole |= {side.sae: side.steered.text for side in result.sides}
    assert any(p.texts[sae] for p in partials for sae in rand_saes)  # the steered answers stream too
    assert all(len(p.texts[k]) <= len(text) for p in partials for k, text in whole.items())


def test_a_comparison_needs_two_different_attached_saes(backend, rand_sae) -> None:
    with pytest.raises(SaifError, match="pick two different SAEs"):
        backend.discovery.compare_layers(CHOICE, (rand_sae, rand_sae), top_k=5, n_contents=2, decoding=D4)
    with pytest.raises(SaifError, match="no attached SAE named 'nope'"):
        backend.discovery.compare_layers(CHOICE, (rand_sae, "nope"), top_k=5, n_contents=2, decoding=D4)
