"""Fluency of generated text, so that over-steering shows as degradation rather than success.

Two signals: the unsteered model's perplexity of the text, and the share of repeated word trigrams (`checkers`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from saif_ui.engine import Engine


def perplexity(engine: Engine, texts: Sequence[str], batch_size: int = 8) -> list[float | None]:
    """The (unsteered) model's perplexity of each text on its own, None for texts under two tokens.

    Unconditional on purpose: conditioned on the prompt, a French answer to an English passage that did not ask
    for French is "surprising" even when perfect French, which would punish successful steering. The text follows
    one separator token (BOS, else EOS), the start of a document, so its first token is predicted too.
    """
    tok = engine.tokenizer
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    seqs: list[torch.Tensor | None] = []
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"] if text.strip() else []
        seqs.append(torch.tensor([start, *ids]) if len(ids) >= 2 else None)
    out: list[float | None] = [None] * len(texts)
    todo = [i for i, s in enumerate(seqs) if s is not None]
    for b in range(0, len(todo), batch_size):
        idx = todo[b : b + batch_size]
        losses = engine.lm_loss([seqs[i] for i in idx])  # type: ignore[misc]
        for i, loss in zip(idx, losses.tolist(), strict=True):
            out[i] = float(math.exp(min(loss, 50.0)))
    return out
