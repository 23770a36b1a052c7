"""The check that steering is exact under the KV cache (Neuronpedia issue 163), shared by the embedded model's tests
and the model-family matrix: each answer generated with the KV cache in a left-padded batch is replayed as one full
steered forward of the prompt plus the answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from saif_ui.engine.decoding import Decoding

GREEDY_TOLERANCE = 1e-3
"""How far below the best logit a greedy token may be when the logits come from another kernel (one padded batch
with the KV cache vs one full unpadded forward): measured gaps are 0, and top-2 margins go down to ~4e-4, so comparing
the two runs' tokens exactly would depend on the CPU's last bits."""


def assert_exact_under_the_kv_cache(engine: Any, prompts: Sequence[str], steering: list[Any], max_new_tokens: int):
    """At every step the token chosen must be the full forward's greedy choice, and a finished answer must end where
    the full forward picks an end-of-turn token; the steering must change some answer. Returns the answers."""
    cached = engine.generate(
        list(prompts), steering, decoding=Decoding(max_new_tokens=max_new_tokens), use_cache=True, reuse=False
    )
    eos = sorted(engine.eos_ids())
    for prompt, gen in zip(prompts, cached, strict=True):
        prompt_ids = engine.chat.tokenize(prompt)
        ids = torch.tensor([prompt_ids + gen.token_ids])
        with engine.steering(steering, len(prompt_ids)), torch.no_grad():
            logits = engine.model(input_ids=ids, use_cache=False).logits[0, len(prompt_ids) - 1 :].float()
        best = logits.max(-1).values
        n = len(gen.token_ids)
        chosen = logits[torch.arange(n), gen.token_ids]
        assert n and (best[:n] - chosen).max() <= GREEDY_TOLERANCE
        if gen.finished:
            assert logits[n, eos].max() >= best[n] - GREEDY_TOLERANCE
        else:
            assert n == max_new_tokens
    plain = engine.generate(list(prompts), decoding=Decoding(max_new_tokens=max_new_tokens), reuse=False)
    assert [g.token_ids for g in cached] != [g.token_ids for g in plain]  # the steering did something
    return cached
