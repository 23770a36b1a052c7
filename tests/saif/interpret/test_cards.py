"""Tests for saif_ui.saif.interpret.cards and cards_build: top contexts, histograms, density, shipped cards."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import saif_ui.saif.interpret.cards_build as cards_build
from saif_ui.fast.data import Conversation
from saif_ui.saif.interpret.cards import SHIPPED_FILE, CardsConfig, LatentCards, hist_edges
from saif_ui.saif.interpret.cards_build import _Accumulator, build_cards
from saif_ui.saif.interpret.cards_store import cache_path, find_cards, latent_cards
from tests.conftest import shipped_sae_folders

SMALL = CardsConfig(n_conversations=2, max_len=48, top_n=4, before=3, after=2, chunk=16)
CHATS = [
    Conversation(
        "a",
        [
            {"role": "user", "content": "Translate into French: I like tea."},
            {"role": "assistant", "content": "J'aime le thé."},
        ],
    ),
    Conversation(
        "b",
        [
            {"role": "user", "content": "Write a haiku about rain."},
            {
                "role": "assistant",
                "content": "Soft rain on the roof, a quiet song for the night, the garden drinks deep.",
            },
        ],
    ),
    Conversation(
        "c", [{"role": "user", "content": "List three primes."}, {"role": "assistant", "content": "2, 3 and 5."}]
    ),
]


# ------------------------------------------------------------------ the streaming accumulator (no model)


def _accumulate(acts: list[torch.Tensor], cfg: CardsConfig) -> LatentCards:
    acc = _Accumulator(acts[0].shape[1], cfg)
    for i, a in enumerate(acts):
        acc.add(a, torch.arange(100, 100 + a.shape[0]), i)
    return acc.finish(_FakeSae(), "model", [f"c{i}" for i in range(len(acts))], 0.0)


class _FakeSae:
    name = "fake"


def test_accumulator_keeps_the_top_contexts_one_per_chunk() -> None:
    torch.manual_seed(0)
    cfg = CardsConfig(top_n=3, before=2, after=1, chunk=4, hist_bins=5, hist_min=0.1, hist_max=1e4)
    acts = [torch.relu(torch.randn(10, 6)) * 5, torch.relu(torch.randn(7, 6)) * 5]
    acts[0][5, 2] = 50.0  # the strongest of latent 2, at position 6 of conversation 0 (position 0 is dropped)
    acts[0][6, 2] = 40.0  # same chunk: must not take a second slot
    cards = _accumulate(acts, cfg)
    assert cards.values[2, 0] == 50.0 and cards.conv[2, 0] == 0 and cards.pos[2, 0] == 6
    assert 40.0 not in cards.values[2]
    assert cards.ids[2, 0].tolist() == [103, 104, 105, 106] and cards.acts[2, 0, 2] == 50.0  # window [-2, +1]
    for latent in range(6):  # the top list is the best chunk maxima, in order
        chunk_max = sorted((float(c.max()) for a in acts for c in a[:, latent].split(4) if c.max() > 0), reverse=True)
        kept = [v for v in cards.values[latent].tolist() if v > 0]
        assert kept == pytest.approx(chunk_max[: cfg.top_n])
    all_acts = torch.cat(acts)
    assert cards.n_tokens == 17 and cards.fired.tolist() == (all_acts > 0).sum(0).tolist()
    assert cards.hist.sum(1).tolist() == cards.fired.tolist()  # out-of-range values land in the end bins
    assert cards.max_act == pytest.approx(all_acts.max(0).values.numpy())
    assert cards.density == pytest.approx(cards.fired / 17)
    assert len(hist_edges(cfg)) == 6 and hist_edges(cfg)[0] == pytest.approx(0.1)


def _nudge(value: float, ulps: int) -> float:
    x = torch.tensor(value, dtype=torch.float32)
    for _ in range(abs(ulps)):
        x = torch.nextafter(x, torch.tensor(float("inf") if ulps > 0 else float("-inf")))
    return float(x)


def test_tied_contexts_rank_by_conversation_then_position_whatever_the_order_seen() -> None:
    """Latent 0 reaches 5.0 (up to float noise, as batched kernels would compute it) in two chunks of conversation 1
    and one chunk each of conversations 0 and 2, seen in the order 2, 0, 1; the top list reads them by conversation
    index, then position. Latent 1 never fires: its slots stay empty (conversation and position -1)."""
    cfg = CardsConfig(top_n=3, before=0, after=0, chunk=4)
    acts = {c: torch.zeros(8, 2) for c in range(3)}
    acts[2][1, 0] = _nudge(5.0, 2)  # the largest by its last bits
    acts[0][6, 0] = _nudge(5.0, -1)
    acts[1][5, 0], acts[1][2, 0] = 5.0, _nudge(5.0, 1)
    acts[1][0, 0] = 1.0  # same chunk as position 3, smaller: not a candidate
    acc = _Accumulator(2, cfg)
    for c in (2, 0, 1):
        acc.add(acts[c], torch.arange(10 * c, 10 * c + 8), c)
    cards = acc.finish(_FakeSae(), "model", ["c0", "c1", "c2"], 0.0)
    assert cards.conv[0].tolist() == [0, 1, 1] and cards.pos[0].tolist() == [7, 3, 6]  # position = index + 1
    assert cards.values[0].tolist() == pytest.approx([5.0] * 3, rel=1e-6)
    assert cards.ids[0, :, 0].tolist() == [6, 12, 15]
    assert cards.values[1].tolist() == [0.0] * 3
    assert cards.conv[1].tolist() == [-1] * 3 and cards.pos[1].tolist() == [-1] * 3


def test_windows_are_padded_at_conversation_edges() -> None:
    cfg = CardsConfig(top_n=1, before=3, after=3, chunk=8)
    acts = torch.zeros(4, 1)
    acts[0, 0] = 2.0
    cards = _accumulate([acts], cfg)
    assert cards.ids[0, 0].tolist() == [-1, -1, -1, 100, 101, 102, 103]


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="n_conversations"):
        CardsConfig(n_conversations=0)
    with pytest.raises(ValueError, match="before and after"):
        CardsConfig(before=-1)
    with pytest.raises(ValueError, match="hist_min"):
        CardsConfig(hist_min=10.0, hist_max=1.0)
    with pytest.raises(ValueError, match="batch_tokens"):
        CardsConfig(max_len=8192)


# ------------------------------------------------------------------ real model, random SAE


def test_top_contexts_hold_the_true_maximum(engine, rand_sae) -> None:
    cards = build_cards(engine, rand_sae, cfg=SMALL, conversations=CHATS, progress=False)
    assert cards.conversation_ids == ["a", "b", "c"] and cards.n_latents == 32 and (cards.values[:, 0] > 0).sum() > 8
    # Recompute every activation the plain way: render, encode, drop position 0.
    texts = [engine.chat.render(c.messages, add_generation_prompt=False, system_prompt=True) for c in CHATS]
    encs = engine.encode(texts, saes=[rand_sae])
    lat = torch.cat([e.latents[rand_sae][1 : SMALL.max_len] for e in encs])
    assert cards.n_tokens == lat.shape[0]
    # Batched, padded forwards may differ from this one in the last bits: a value at ~0 may flip.
    assert np.abs(cards.fired - (lat > 0).sum(0).numpy()).max() <= 1
    assert cards.hist.sum(1).tolist() == cards.fired.tolist()
    for latent in range(32):
        assert cards.values[latent, 0] == pytest.approx(float(lat[:, latent].max().clamp(min=0)), rel=1e-4)
        if cards.values[latent, 0] == 0:  # a dead latent has no context
            assert cards.contexts(latent, engine.tokenizer) == []
            continue
        [top, *_] = cards.contexts(latent, engine.tokenizer)
        enc = encs[cards.conversation_ids.index(top.conversation)]
        assert top.tokens[top.highlight] == engine.tokenizer.decode([int(enc.token_ids[top.position])])
        assert float(enc.latents[rand_sae][top.position, latent]) == pytest.approx(top.value, rel=1e-4)
        assert top.acts[top.highlight] == pytest.approx(top.value, rel=1e-3)  # stored as fp16
        assert top.position >= 1  # the attention sink at position 0 never counts


def test_save_load_round_trip(engine, rand_sae, tmp_path) -> None:
    cards = build_cards(engine, rand_sae, cfg=SMALL, conversations=CHATS, progress=False)
    path = cards.save(tmp_path / "cards.npz")
    back = LatentCards.load(path)
    assert back.ids.dtype == np.int32 and np.array_equal(back.ids, cards.ids)  # uint16 on disk, -1 padding restored
    assert np.array_equal(back.values, cards.values) and np.array_equal(back.hist, cards.hist)
    assert np.allclose(back.acts, cards.acts, rtol=1e-3) and back.config == cards.config
    summary = back.summary(5, engine.tokenizer)
    assert json.loads(json.dumps(summary)) == cards.summary(5, engine.tokenizer) | {"source": "file"}
    assert sum(summary["histogram"]["counts"]) == summary["fired"]
    with pytest.raises(ValueError, match="out of range"):
        back.contexts(32, engine.tokenizer)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable npz"):
        LatentCards.load(path)


def test_latent_cards_computes_once_then_reads_the_cache(engine, rand_sae) -> None:
    first = latent_cards(engine, rand_sae, SMALL, progress=False)
    assert first.source == "computed" and len(first.conversation_ids) == 2
    assert cache_path(engine.config.cache_dir, first.key).is_file()
    calls = engine.forward_calls
    again = latent_cards(engine, rand_sae, SMALL)
    assert again.source == "cache" and engine.forward_calls == calls and np.array_equal(again.values, first.values)
    assert find_cards(engine, rand_sae, replace(SMALL, top_n=3)) is None  # other settings, other key
    # A corrupt cache file is recomputed, not trusted.
    cache_path(engine.config.cache_dir, first.key).write_bytes(b"not an npz")
    assert find_cards(engine, rand_sae, SMALL) is None


def test_held_out_conversations_are_the_eval_split() -> None:
    from saif_ui.fast.harvest import default_dataset

    picked = cards_build.held_out_conversations(5, seed=0)
    train_ids = {c.id for c in default_dataset().train}
    assert len(picked) == 5 and not {c.id for c in picked} & train_ids
    assert [c.id for c in picked] == [c.id for c in cards_build.held_out_conversations(5, seed=0)]
    with pytest.raises(ValueError, match="held-out conversations exist"):
        cards_build.held_out_conversations(10**6)


# ------------------------------------------------------------------ shipped cards


@pytest.mark.parametrize("folder", shipped_sae_folders())
def test_shipped_cards_load_and_match_their_sae(engine, folder, tmp_path, monkeypatch) -> None:
    path = Path(folder) / SHIPPED_FILE
    assert path.is_file(), f"{path} is missing: every shipped SAE ships its cards"
    assert path.stat().st_size < 10 * 2**20
    d_sae = json.loads((Path(folder) / "cfg.json").read_text())["d_sae"]
    monkeypatch.setattr(engine.config, "cache_dir", tmp_path)
    sae = engine.add_sae(folder)
    try:
        cards = find_cards(engine, sae.name)
    finally:
        engine.remove_sae(sae.name)
    assert cards is not None and cards.source == "shipped" and cards.n_latents == d_sae
    assert cards.config == CardsConfig() and cards.n_tokens > 50_000
    assert cards.hist.sum(1).tolist() == cards.fired.tolist()
    busiest = int(np.argmax(cards.fired))
    [top, *_] = cards.contexts(busiest, engine.tokenizer)
    assert top.value == pytest.approx(float(cards.max_act[busiest])) and top.tokens[top.highlight]
