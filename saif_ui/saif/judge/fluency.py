"""Fluency of generated text, so that over-steering shows as degradation rather than success.

Signals: the unsteered model's perplexity of the text, and how much of it repeats (word trigrams, character 8-grams).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError

_WORD = re.compile(r"\w+")


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


def _word_ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    if n < 1:
        raise SaifError(f"n must be >= 1, got {n}")
    words = _WORD.findall(text.lower())
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(text: str, n: int = 2) -> float:
    """Unique word n-grams / all word n-grams (Li et al. 2016); 0.0 when the text has fewer than n words.

    Example:
        >>> distinct_n("the cat the cat", n=2)
        0.6666666666666666
    """
    grams = _word_ngrams(text, n)
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(text: str, n: int = 3) -> float:
    """Fraction of word n-grams that repeat an earlier one: 0 for diverse text, towards 1 for degenerate loops.

    Steering at high strength often collapses into loops ("the the the ..."); this flags it without a model. Returns 0.0
    when the text has fewer than n words (nothing can repeat).
    """
    grams = _word_ngrams(text, n)
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def char_repetition_rate(text: str, n: int = 8) -> float:
    """Fraction of character n-grams (whitespace collapsed) that repeat an earlier one.

    Catches the loops word trigrams miss: one long "word" (`{"2222222...`, `photograp photograp`) or a loop of short
    words counts as a single word to `repetition_rate` but repeats here. 0.0 for texts shorter than n characters.
    """
    flat = " ".join(text.split())
    grams = [flat[i : i + n] for i in range(len(flat) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def degeneration(text: str) -> float:
    """The larger of the word-trigram and character-8-gram repetition rates: how much of the text is a loop."""
    return max(repetition_rate(text), char_repetition_rate(text))
