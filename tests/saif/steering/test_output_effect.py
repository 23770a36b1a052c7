"""Output-effect scores on the real model: the engine's gradient matches a finite difference, and the scores rank
latents by the first-order change they make to the instructed answer's likelihood."""

from __future__ import annotations

import pytest
import torch

from saif_ui.engine import hooks
from saif_ui.engine.errors import SaifError
from saif_ui.saif.steering.output_effect import output_effect


def _nll(engine, ids: torch.Tensor, targets: torch.Tensor, layer: int, delta: torch.Tensor) -> float:
    with torch.no_grad(), hooks.splice(engine.model, layer, lambda h: h + delta.to(h.dtype)):
        logits = engine.model(input_ids=ids[None], use_cache=False).logits[0, :-1].float()
    nll = -torch.log_softmax(logits, -1).gather(-1, ids[1:, None])[:, 0]
    return float(nll[targets[1:]].sum())


def test_target_gradient_matches_a_finite_difference(engine) -> None:
    ids = torch.tensor(engine.chat.tokenize("The quick brown fox jumps over the lazy dog because it can."))
    targets = torch.zeros(len(ids), dtype=torch.bool)
    targets[-5:] = True
    grad = engine.target_gradient(ids, targets, 5)
    assert grad.shape == (len(ids), engine.d_model) and torch.all(grad[0] == 0) and grad.abs().sum() > 0
    direction = torch.randn(1, len(ids), engine.d_model, generator=torch.Generator().manual_seed(0))
    direction[:, 0] = 0
    direction = direction / direction.norm()
    eps = 0.05
    base = _nll(engine, ids, targets, 5, torch.zeros_like(direction))
    moved = _nll(engine, ids, targets, 5, eps * direction)
    predicted = eps * float((grad * direction[0]).sum())
    assert moved - base == pytest.approx(predicted, rel=0.2, abs=1e-4)
    assert not any(p.grad is not None for p in engine.model.parameters())  # no weight gradient was computed
    assert hooks.hook_count(engine.model) == 0


def test_bad_target_masks_are_refused(engine) -> None:
    ids = torch.tensor(engine.chat.tokenize("Hello there"))
    with pytest.raises(SaifError, match="targets"):
        engine.target_gradient(ids, torch.zeros(len(ids), dtype=torch.bool), 3)
    with pytest.raises(SaifError, match="targets"):
        engine.target_gradient(ids, torch.ones(len(ids) + 1, dtype=torch.bool), 3)


def test_scores_rank_latents_the_instruction_switches_on(engine, tmp_path, monkeypatch) -> None:
    from tests.conftest import random_sae

    monkeypatch.setattr(engine.config, "cache_dir", tmp_path / "cache")
    random_sae(engine.d_model, 64, "blocks.5.hook_resid_post", seed=3).save_model(str(tmp_path / "r5"))
    name = engine.add_sae(str(tmp_path / "r5")).name
    try:
        from saif_ui.engine.decoding import Decoding

        effect = output_effect(engine, "french", name, n_contents=2, decoding=Decoding(max_new_tokens=8))
    finally:
        engine.remove_sae(name)
    assert effect.scores.shape == (64,) and effect.n_contents == 2
    # A latent the instruction never switches on would not be added by steering: its score is 0.
    assert torch.all(effect.scores[effect.mean_act == 0] == 0)
    top = effect.top(5)
    assert all(float(effect.scores[i]) > 0 for i in top)
    assert [float(effect.scores[i]) for i in top] == sorted((float(effect.scores[i]) for i in top), reverse=True)
    if top:
        spec = effect.spec(len(top))
        assert [e.latent for e in spec.latents] == top and all(e.mean_act > 0 for e in spec.latents)
