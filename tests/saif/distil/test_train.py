"""Prompt distillation on the real model, at a tiny budget: the loss falls, what is trained is what the spec
applies (the replayed loss equals the loss of a full forward with the steering hooks), and the `sae` vector is its
kept latents' combination."""

from __future__ import annotations

import math

import pytest
import torch

from saif_ui.engine import Steering
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.discover import resolve_instruction
from saif_ui.saif.distil.config import DistilConfig
from saif_ui.saif.distil.teacher import teacher_examples
from saif_ui.saif.distil.train import _batches, _loss, distil, training_contents

TINY = {"n_train": 3, "answer_tokens": 10, "steps": 6, "eval_every": 3, "n_val": 2, "lr": 0.2, "batch_size": 2}


def test_teacher_targets_follow_the_prompted_answer(engine) -> None:
    instr = resolve_instruction("french")
    (ex,) = teacher_examples(engine, instr, training_contents(1), answer_tokens=10, top_k=5)
    n = ex.answer.shape[0]
    assert 1 <= n <= 11 and torch.equal(ex.student[-n:], ex.answer) and torch.equal(ex.teacher[-n:], ex.answer)
    assert ex.student.shape[0] < ex.teacher.shape[0]  # the instruction is in the teacher's prompt only
    assert int(ex.student_targets.sum()) == n and bool(ex.student_targets[-n - 1]) and not ex.student_targets[-1]
    total = ex.top_logp.exp().sum(-1) + ex.tail_logp.exp()
    assert torch.allclose(total, torch.ones(n), atol=1e-4)
    # greedy answer: the teacher's most likely token is the answer's next token
    assert torch.equal(ex.top_ids[:, 0], ex.answer)


@pytest.mark.parametrize("positions", ["all", "generated"])
def test_the_trained_loss_is_the_loss_of_the_applied_steering(engine, positions) -> None:
    instr = resolve_instruction("french")
    examples = teacher_examples(engine, instr, training_contents(2), answer_tokens=10, top_k=8)
    layer = 15
    vector = torch.randn(engine.d_model, generator=torch.Generator().manual_seed(0)) * 4
    (both,) = _batches(engine, layer, examples, batch_size=2, positions=positions)
    alone = []
    for ex in examples:
        (batch,) = _batches(engine, layer, [ex], batch_size=1, positions=positions)
        n = ex.answer.shape[0]
        # the same losses from a full forward with the engine's own steering hook, the answer generated after the
        # prompt (what `generated` means at inference)
        with engine.steering([Steering(layer, vector, positions)], prompt_len=ex.student.shape[0] - n):
            logits = engine.logits([ex.student])[0, ex.student_targets.nonzero()[:, 0]]
        logq = torch.log_softmax(logits, -1)
        q_top = logq.gather(-1, ex.top_ids)
        q_tail = torch.logsumexp(logq.scatter(-1, ex.top_ids, float("-inf")), -1)
        p_top, p_tail = ex.top_logp.exp(), ex.tail_logp.exp()
        kl = (p_top * (ex.top_logp - q_top)).sum(-1) + p_tail * (ex.tail_logp - q_tail)
        ce = -logq.gather(-1, ex.answer[:, None])[:, 0]
        assert float(_loss(batch, vector, "kl")) == pytest.approx(float(kl.mean()), rel=1e-4, abs=1e-5)
        assert float(_loss(batch, vector, "ce")) == pytest.approx(float(ce.mean()), rel=1e-4, abs=1e-5)
        alone.append((kl, n))
    # a batch's loss is the mean over all its answer positions (padding changes nothing)
    pooled = sum(float(kl.sum()) for kl, _ in alone) / sum(n for _, n in alone)
    assert float(_loss(both, vector, "kl")) == pytest.approx(pooled, rel=1e-4, abs=1e-5)


def test_free_distillation_lowers_its_loss_and_respects_the_norm(engine) -> None:
    cfg = DistilConfig(basis="free", layer=15, max_norm=8.0, **TINY)
    got = distil(engine, "french", cfg, fidelity_threshold=0.0)
    losses = [h["loss"] for h in got.history]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert all(h["norm"] <= 8.0 + 1e-4 for h in got.history) and got.norm <= 8.0 + 1e-4
    assert [c.step for c in got.checks] == [3, 6] and got.best_step in (3, 6)
    spec = got.spec()
    assert torch.allclose(spec.layer_vectors(engine)[15], got.vector, atol=1e-6)
    assert got.summary()["basis"] == "free" and math.isfinite(got.summary()["final_loss"])


def test_sae_distillation_keeps_few_latents_and_steers_as_their_combination(engine, l24) -> None:
    cfg = DistilConfig(basis="sae", layer=24, candidates=8, keep=3, refit_steps=3, l1=0.01, n_discovery=4, **TINY)
    got = distil(engine, "french", cfg, fidelity_threshold=0.0)
    assert got.sae == l24 and len(got.latents) == 3 and len(got.coefficients) == 3
    cands = set(got.candidates["saif"]) | set(got.candidates["prompt_shift"])
    assert set(got.latents) <= cands and len(cands) <= 8
    assert [c.step for c in got.checks] == [3, 6]  # one check right after pruning, one at the end
    spec = got.spec()
    assert spec.scale == "unit" and spec.positions == "all" and [e.latent for e in spec.latents] == got.latents
    assert torch.allclose(spec.layer_vectors(engine)[24], got.vector, atol=1e-5)


def test_bad_settings_are_refused(engine) -> None:
    with pytest.raises(SaifError, match="needs an SAE reading layer 3"):
        distil(engine, "french", DistilConfig(basis="sae", layer=3, refit_steps=3, **TINY))
    with pytest.raises(SaifError, match="basis must be"):
        DistilConfig(basis="dense")  # type: ignore[arg-type]
    with pytest.raises(SaifError, match="out of range"):
        distil(engine, "french", DistilConfig(basis="free", layer=99, **TINY))
