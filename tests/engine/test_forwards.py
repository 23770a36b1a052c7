"""Tests for saif_ui.engine.forwards: encoding (shapes, masks, SAE latents, no padding leak) and its cache, on the
real engine with two random SAEs."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import random_sae
from tests.engine.test_engine import PROMPTS


@pytest.fixture(scope="module")
def with_saes(engine, tmp_path_factory):
    """Two random SAEs at different layers, attached for this module only."""
    root = tmp_path_factory.mktemp("saes")
    names = []
    for layer in (6, 20):
        random_sae(576, 128, f"blocks.{layer}.hook_resid_post", seed=layer).save_model(root / f"L{layer}")
        names.append(engine.add_sae(str(root / f"L{layer}")).name)
    yield names
    for n in names:
        engine.remove_sae(n)


def test_encode_shapes_masks_and_latents(engine, with_saes):
    rendered = [engine.render(p) for p in PROMPTS]
    encs = engine.encode(rendered, layers=[3, 15], saes=with_saes)
    for enc, text in zip(encs, rendered, strict=True):
        n = len(engine.chat.tokenize(text))
        assert enc.token_ids.shape == (n,) and enc.special_mask.shape == (n,) and enc.attention_mask.all()
        assert enc.residuals[3].shape == (n, 576) and enc.residuals[15].shape == (n, 576)
        assert enc.latents["L6"].shape == (n, 128) and enc.latents["L20"].shape == (n, 128)
        assert enc.special_mask[0] and enc.tokens[0] == "<|im_start|>"
        assert not enc.content_mask()[0]
        # Position 0 is an attention sink with a residual far larger than the rest.
        norms = enc.residuals[15].norm(dim=-1)
        assert norms[0] > 20 * norms[1:].median()
    # Padding does not leak: the short prompt encoded alone (cache cleared) matches its row of the padded batch.
    engine.cache.clear()
    calls = engine.forward_calls
    alone = engine.encode([rendered[1]], layers=[15])[0]
    assert engine.forward_calls == calls + 1
    torch.testing.assert_close(alone.residuals[15], encs[1].residuals[15], rtol=1e-4, atol=1e-3)


def test_sae_latents_equal_sae_of_hidden_state(engine, with_saes):
    text = engine.render("Return the answer as JSON: two plus two.")
    enc = engine.encode([text], saes=["L20"])[0]
    ids = enc.token_ids[None]
    with torch.no_grad():
        hidden = engine.model(ids, output_hidden_states=True).hidden_states[21][0]  # output of block 20
    torch.testing.assert_close(enc.latents["L20"], engine.sae("L20").encode(hidden), rtol=1e-4, atol=1e-4)


def test_cache_hit_returns_the_same_tensors_without_the_model(engine, with_saes):
    text = engine.render("A fresh prompt for the cache test.")
    first = engine.encode([text], layers=[10], saes=["L6"])[0]
    calls = engine.forward_calls
    second = engine.encode([text], layers=[10], saes=["L6"])[0]
    assert engine.forward_calls == calls
    assert second.residuals[10] is first.residuals[10] and second.latents["L6"] is first.latents["L6"]
    # Asking for a layer not cached yet runs the model again.
    engine.encode([text], layers=[11])
    assert engine.forward_calls == calls + 1
