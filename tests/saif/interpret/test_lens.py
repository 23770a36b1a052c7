"""Tests for saif_ui.saif.interpret.lens: logit lens, instruction words, decoder neighbours."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import torch

import saif_ui.saif.interpret.lens as lens_module
from saif_ui.saif.interpret.lens import (
    instruction_words,
    lens_logits,
    logit_lens,
    neighbours,
    word_similarity,
    word_vectors,
)


def _id(engine, text: str) -> int:
    [tid] = engine.tokenizer(text, add_special_tokens=False)["input_ids"]
    return int(tid)


@pytest.mark.parametrize("word", [" French", " JSON", " Spanish", " keywords"])
def test_logit_lens_of_an_unembedding_row_returns_its_token_first(engine, word) -> None:
    tid = _id(engine, word)
    direction = engine.model.lm_head.weight[tid].detach()
    [lens] = logit_lens(engine, direction, top_n=5)
    assert lens.promoted[0].id == tid and lens.promoted[0].token == word
    assert lens.promoted[0].cosine >= lens.promoted[1].cosine > lens.suppressed[-1].cosine
    assert len(lens.suppressed) == 5 and lens.suppressed[0].cosine <= lens.suppressed[-1].cosine
    # Opposite direction: the token becomes the most suppressed one.
    [neg] = logit_lens(engine, -direction, top_n=5)
    assert neg.suppressed[0].id == tid


def test_lens_is_independent_of_the_direction_length(engine) -> None:
    d = torch.randn(3, engine.d_model, generator=torch.Generator().manual_seed(0))
    (logits, cosine), (logits2, cosine2) = lens_logits(engine, d), lens_logits(engine, 7.5 * d)
    assert torch.allclose(logits, logits2, atol=1e-4) and torch.allclose(cosine, cosine2, atol=1e-6)
    assert logits.shape == cosine.shape == (3, engine.model.config.vocab_size)
    assert cosine.abs().max() <= 1.0 + 1e-5


def test_lens_by_logit_shows_the_raw_ranking(engine) -> None:
    tid = _id(engine, " French")
    [lens] = logit_lens(engine, engine.model.lm_head.weight[tid].detach(), top_n=3, by="logit")
    assert lens.promoted[0].logit >= lens.promoted[1].logit >= lens.promoted[2].logit
    with pytest.raises(ValueError, match="by must be"):
        logit_lens(engine, torch.zeros(engine.d_model), by="norm")  # type: ignore[arg-type]


def _nudge(value: float, ulps: int) -> float:
    x = torch.tensor(value, dtype=torch.float32)
    for _ in range(abs(ulps)):
        x = torch.nextafter(x, torch.tensor(float("inf") if ulps > 0 else float("-inf")))
    return float(x)


@pytest.mark.parametrize("by", ["cosine", "logit"])
def test_lens_ties_go_to_the_lower_token_id(monkeypatch, by) -> None:
    """Tokens 2, 5 and 8 share the top value and 1, 6, 7 and 9 the bottom one, up to float noise that puts other ids
    ahead: promoted and suppressed lists must read them by id, whatever the kernel's last bits."""
    top, low = [_nudge(0.7, k) for k in (-2, 0, 3)], [_nudge(-0.4, k) for k in (1, 0, -2, 0)]
    values = torch.tensor([0.1, low[0], top[0], 0.2, 0.3, top[1], low[1], low[2], top[2], low[3]])
    assert values[8] > values[5] > values[2] and values[7] < values[9] < values[1]
    scale = 30.0 if by == "logit" else 1.0
    monkeypatch.setattr(lens_module, "lens_logits", lambda engine, d: (values[None] * scale, values[None]))
    fake = SimpleNamespace(tokenizer=SimpleNamespace(decode=lambda ids: f"t{ids[0]}"))
    [lens] = logit_lens(fake, torch.zeros(4), top_n=4, by=by)  # type: ignore[arg-type]
    assert [t.id for t in lens.promoted] == [2, 5, 8, 4]
    assert [t.id for t in lens.suppressed] == [1, 6, 7, 9]
    assert [t.token for t in lens.promoted] == ["t2", "t5", "t8", "t4"]
    assert lens.promoted[0].cosine == pytest.approx(0.7) and lens.promoted[0].logit == pytest.approx(0.7 * scale)


def test_instruction_words() -> None:
    assert instruction_words(["Translate the text into French."]) == ["Translate", "French"]
    assert instruction_words(["Return the answer as JSON.", "ignored"]) == ["JSON"]
    assert instruction_words(["Rewrite the text as a bullet list."]) == ["bullet", "list"]
    assert instruction_words(["Übersetze den Text ins Französische."])[-1] == "Französische"
    assert instruction_words([]) == []


def test_word_similarity_of_a_word_with_its_own_embedding_is_one(engine) -> None:
    vecs = word_vectors(engine, ["French", "JSON"])
    assert vecs.shape == (2, engine.d_model)
    sims = word_similarity(engine, vecs, ["French", "JSON", "banana"])
    assert sims.shape == (2, 3)
    assert sims[0, 0] == pytest.approx(1.0, abs=1e-5) and sims[1, 1] == pytest.approx(1.0, abs=1e-5)
    assert sims[0, 1] < 0.9 and sims[0, 2] < 0.9


def test_neighbours_include_itself_at_one() -> None:
    w = torch.randn(50, 16, generator=torch.Generator().manual_seed(0))
    w[7] = 3.0 * w[3]  # same direction, another norm
    near = neighbours(w, 3, top_n=4)
    assert near[0] == (3, 1.0) and near[1] == (7, 1.0)
    assert len(near) == 4 and all(a[1] >= b[1] for a, b in itertools.pairwise(near))
    with pytest.raises(ValueError, match="out of range"):
        neighbours(w, 50)


def test_neighbour_ties_are_ordered_by_id_whatever_the_rounding() -> None:
    """Duplicate directions tie: the latent itself comes first, then the others by id, on any CPU. The tie is made
    of rows whose last bits differ, as two BLAS kernels would compute them."""
    w = torch.randn(40, 16, generator=torch.Generator().manual_seed(1))
    for i, scale in ((9, 2.0), (2, 0.5), (31, 7.0)):
        w[i] = scale * w[20] * (1 + 1e-8)  # the same direction up to float noise
    assert [i for i, _ in neighbours(w, 20, top_n=4)] == [20, 2, 9, 31]
    assert [i for i, _ in neighbours(w, 9, top_n=4)] == [9, 2, 20, 31]
    for latent in (2, 9, 20, 31):
        assert [c for _, c in neighbours(w, latent, top_n=4)] == [1.0] * 4
    # The order does not depend on which rows come first in memory: permuting other rows keeps the same ids.
    perm = torch.arange(40)
    perm[[0, 1]] = perm[[1, 0]]
    assert [i for i, _ in neighbours(w[perm], 20, top_n=4)] == [20, 2, 9, 31]
