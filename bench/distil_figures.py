"""Distillation's figure (P11): one training step (KL over the replayed blocks above the layer, gradient to the
vector only) against a plain forward + backward over the same blocks: what the training loop adds to the model's own
work (target ≥ 0.8)."""

from __future__ import annotations

import torch

from bench.timing import Figure, paired_best, speedup
from saif_ui.engine import Engine
from saif_ui.saif.discovery.discover import resolve_instruction
from saif_ui.saif.distil.basis import FreeVector
from saif_ui.saif.distil.teacher import teacher_examples
from saif_ui.saif.distil.train import _batches, _step, training_contents

LAYER = 15


def p11_distil_step(engine: Engine, quick: bool) -> Figure:
    """Training throughput: plain forward + backward of the blocks above the layer / one distillation step."""
    examples = teacher_examples(
        engine, resolve_instruction("french"), training_contents(4 if quick else 16), answer_tokens=48, top_k=32
    )
    batches = _batches(engine, LAYER, examples, batch_size=8)
    device = engine.loaded.device
    param = FreeVector(engine.d_model).to(device)  # as `distil` places it: on the model's device
    tokens = sum(int(ex.student.shape[0]) for ex in examples)

    def step() -> None:
        _step(param, batches, "kl", 0.0)

    def plain() -> None:
        # the same blocks, forward and backward to an added vector, with nothing of training around them
        delta = torch.zeros(engine.d_model, device=device, requires_grad=True)
        with torch.enable_grad():
            for b in batches:
                # in the residual's dtype, as the training step adds its vector (bf16 on a GPU)
                out = b.above.logits(b.above.resid + delta.to(b.above.resid.dtype), b.rows)
                torch.autograd.grad(out.logsumexp(-1).sum(), [delta])

    t = paired_best({"step": step, "plain": plain}, repeats=2 if quick else 3)
    title = f"distillation step vs a plain forward + backward of the blocks above layer {LAYER}"
    return speedup(
        "P11",
        title,
        t,
        "plain",
        "step",
        0.8,
        examples=len(examples),
        tokens=tokens,
        tokens_per_s=round(tokens / t["step"]),
    )
