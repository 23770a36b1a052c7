"""Building latent cards: one streaming pass over held-out chats that keeps a running top-N per latent."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from saif_ui.engine import Engine, LoadedSAE
from saif_ui.engine.errors import SaifError
from saif_ui.engine.order import tie_key
from saif_ui.saif.interpret.cards import CardsConfig, LatentCards

if TYPE_CHECKING:
    from saif_ui.fast.data import Conversation

log = logging.getLogger(__name__)
DEFAULT_CONFIG = CardsConfig()


class _Accumulator:
    """Streaming statistics of one SAE: a running top-N per latent merged by a sort at each conversation, so memory
    stays at O(L x N x W) however many tokens go through. Ties (equal up to float noise, see `tie_key`) rank by
    conversation index, then position, so the kept contexts do not depend on the CPU or on sort internals."""

    def __init__(self, d_sae: int, cfg: CardsConfig) -> None:
        n, w = cfg.top_n, cfg.window
        self.cfg = cfg
        self.n_tokens = 0
        self.values = torch.zeros(d_sae, n)
        self.ids = torch.full((d_sae, n, w), -1, dtype=torch.int32)
        self.acts = torch.zeros(d_sae, n, w)
        self.conv = torch.full((d_sae, n), -1, dtype=torch.int32)
        self.pos = torch.full((d_sae, n), -1, dtype=torch.int32)
        self.fired = torch.zeros(d_sae, dtype=torch.int64)
        self.act_sum = torch.zeros(d_sae, dtype=torch.float64)
        self.max_act = torch.zeros(d_sae)
        self.hist = torch.zeros(d_sae * cfg.hist_bins, dtype=torch.int64)
        self._offsets = torch.arange(-cfg.before, cfg.after + 1)
        self._log_min, self._log_step = (
            math.log10(cfg.hist_min),
            math.log10(cfg.hist_max / cfg.hist_min) / cfg.hist_bins,
        )

    def add(self, acts: torch.Tensor, ids: torch.Tensor, conv: int) -> None:
        """Fold in one conversation: latents `acts` [T, L] and token ids [T] at positions 1..T (position 0 dropped)."""
        t, n_lat = acts.shape
        self.n_tokens += t
        tok, lat = (acts > 0).nonzero(as_tuple=True)
        v = acts[tok, lat]
        self.fired += torch.bincount(lat, minlength=n_lat)
        self.act_sum.index_add_(0, lat, v.double())
        self.max_act = torch.maximum(self.max_act, acts.max(0).values)
        bins = ((v.log10() - self._log_min) / self._log_step).floor().long().clamp(0, self.cfg.hist_bins - 1)
        self.hist += torch.bincount(lat * self.cfg.hist_bins + bins, minlength=self.hist.numel())
        # Candidates: each latent's maximum in every chunk of the conversation, with its window of tokens.
        size = self.cfg.chunk
        n_chunks = -(-t // size)
        padded = acts.new_full((n_chunks * size, n_lat), -1.0)
        padded[:t] = acts
        cand, arg = padded.view(n_chunks, size, n_lat).max(1)  # [C, L]
        at = arg + torch.arange(n_chunks)[:, None] * size
        idx = at[..., None] + self._offsets  # [C, L, W]
        inside = (idx >= 0) & (idx < t)
        idx = idx.clamp(0, t - 1)
        win_acts = acts[idx, torch.arange(n_lat)[None, :, None]] * inside
        win_ids = torch.where(inside, ids[idx], -1).int()
        self._merge(cand.clamp(min=0), win_ids, win_acts, conv, at + 1)

    def _merge(
        self, cand: torch.Tensor, win_ids: torch.Tensor, win_acts: torch.Tensor, conv: int, pos: torch.Tensor
    ) -> None:
        values = torch.cat([self.values, cand.T], 1)
        convs = torch.cat([self.conv, torch.full_like(cand.T, conv, dtype=torch.int32)], 1)
        positions = torch.cat([self.pos, pos.T.int()], 1)
        # Order by (-value, conversation, position): stable sorts from the last key to the first. Empty slots
        # (conversation -1) come before zero-valued candidates, so a latent's unused slots stay marked -1.
        order = torch.sort(convs.long() * 2**32 + positions.long(), dim=1, stable=True).indices
        by_value = torch.sort(-tie_key(values.gather(1, order)), dim=1, stable=True).indices
        sel = order.gather(1, by_value)[:, : self.cfg.top_n]
        sel_w = sel[..., None].expand(-1, -1, self.cfg.window)
        self.values = values.gather(1, sel)
        self.ids = torch.cat([self.ids, win_ids.transpose(0, 1)], 1).gather(1, sel_w)
        self.acts = torch.cat([self.acts, win_acts.transpose(0, 1)], 1).gather(1, sel_w)
        self.conv = convs.gather(1, sel)
        self.pos = positions.gather(1, sel)

    def finish(self, sae: LoadedSAE, model: str, conversation_ids: list[str], seconds: float) -> LatentCards:
        return LatentCards(
            sae=sae.name,
            model=model,
            config=self.cfg,
            n_tokens=self.n_tokens,
            conversation_ids=conversation_ids,
            values=self.values.numpy(),
            ids=self.ids.numpy(),
            acts=self.acts.half().numpy(),  # as saved, so computed and loaded cards read the same
            conv=self.conv.numpy(),
            pos=self.pos.numpy(),
            fired=self.fired.numpy(),
            act_sum=self.act_sum.float().numpy(),
            max_act=self.max_act.numpy(),
            hist=self.hist.view(-1, self.cfg.hist_bins).int().numpy(),
            seconds=seconds,
        )


def held_out_conversations(n: int, seed: int = 0) -> list[Conversation]:
    """`n` conversations of the FAST eval split (hashed by id, disjoint from the train split every shipped SAE was
    harvested from), shuffled by `seed`."""
    from saif_ui.fast.harvest import default_dataset

    pool = list(default_dataset().eval)
    if n > len(pool):
        raise SaifError(f"only {len(pool)} held-out conversations exist; ask for at most that many, not {n}")
    random.Random(seed).shuffle(pool)
    return pool[:n]


def _tokenise(engine: Engine, conversations: Sequence[Conversation], cfg: CardsConfig) -> list[tuple[str, list[int]]]:
    out = []
    for c in conversations:
        text = engine.chat.render(c.messages, add_generation_prompt=False, system_prompt=cfg.system_prompt)
        ids = engine.chat.tokenize(text)[: cfg.max_len]
        if len(ids) >= 2:  # position 0 is dropped, so a lone token gives nothing
            out.append((c.id, ids))
    return out


def _batches(lengths: list[int], batch_tokens: int) -> Iterator[list[int]]:
    """Indices grouped into forwards of at most `batch_tokens` padded tokens, sorted by length to waste little."""
    batch: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if batch and lengths[i] * (len(batch) + 1) > batch_tokens:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def build_cards_many(
    engine: Engine,
    sae_names: Sequence[str],
    cfg: CardsConfig = DEFAULT_CONFIG,
    *,
    conversations: Sequence[Conversation] | None = None,
    progress: bool = True,
) -> dict[str, LatentCards]:
    """Cards of several SAEs in one streaming pass: one forward per batch serves every SAE (it stops at the deepest
    layer). Conversations are rendered through the chat template and position 0 (the attention sink, ~100x norm) is
    left out, exactly as the FAST harvests that trained the SAEs did.

    Args:
        conversations: what to read; default: `cfg.n_conversations` held-out ShareGPT conversations.
    """
    names = list(dict.fromkeys(sae_names))
    if not names:
        raise SaifError("name at least one attached SAE")
    saes = [engine.sae(n) for n in names]
    chats = list(conversations) if conversations is not None else held_out_conversations(cfg.n_conversations, cfg.seed)
    seqs = _tokenise(engine, chats, cfg)
    if not seqs:
        raise SaifError("no conversation has two or more tokens to read")
    accs = {s.name: _Accumulator(s.d_sae, cfg) for s in saes}
    layers = sorted({s.layer for s in saes})
    start = time.perf_counter()
    with tqdm(total=len(seqs), desc=f"cards {','.join(names)}", unit="chat", disable=not progress) as bar:
        for batch in _batches([len(ids) for _, ids in seqs], cfg.batch_tokens):
            store = engine.hidden_states([torch.tensor(seqs[i][1], dtype=torch.long) for i in batch], layers)
            for row, i in enumerate(batch):
                ids = seqs[i][1]
                tail = torch.tensor(ids[1:], dtype=torch.long)
                for s in saes:
                    with torch.no_grad():
                        acts = s.encode(store[s.layer][row, 1 : len(ids)]).float().cpu()
                    accs[s.name].add(acts, tail, i)
            bar.update(len(batch))
    seconds = time.perf_counter() - start
    conv_ids = [cid for cid, _ in seqs]
    return {s.name: accs[s.name].finish(s, engine.loaded.model_id, conv_ids, seconds) for s in saes}


def build_cards(
    engine: Engine,
    sae_name: str,
    n_conversations: int | None = None,
    cfg: CardsConfig | None = None,
    *,
    conversations: Sequence[Conversation] | None = None,
    progress: bool = True,
) -> LatentCards:
    """Cards of one attached SAE from `n_conversations` held-out chats (default `cfg.n_conversations`). No caching:
    `latent_cards` reads the shipped file or the disk cache first.

    Example:
        >>> cards = build_cards(engine, "L24_fast_topk64", 50)
        >>> [c.tokens[c.highlight] for c in cards.contexts(991, engine.tokenizer)]
    """
    base = cfg or CardsConfig()
    if n_conversations is not None:
        base = replace(base, n_conversations=n_conversations)
    return build_cards_many(engine, [sae_name], base, conversations=conversations, progress=progress)[sae_name]
