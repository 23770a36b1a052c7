"""A short label for every latent, from its own top activating contexts (its cards), without any LLM judge.

The method, deterministic and cheap (numpy over the cards' arrays, milliseconds for 4,096 latents):
1. For each latent, every token at its activation peaks (the highlighted token of each top context, weight 1) and
   right beside them (one token before and after, weight 1/2) is counted, weighted by the context's activation
   relative to the latent's strongest.
2. Each count is multiplied by the token's inverse "latent frequency" (log of the number of latents over the number
   whose peaks hold that token, plus one), so tokens at the peaks of almost every latent (spaces, "the", role markers
   in a chat) rank below the ones that make this latent what it is: TF-IDF with latents as documents.
3. The label is the two best tokens, stripped, and, when langdetect is sure the contexts' text is in one
   non-English language, that language's code in front ("fr: bonjour / merci").

The logit lens (what a latent writes) stays in the card; this label says what a latent reads. How well it does is
measured split-half (`label_precision`): labels from half of each latent's top contexts, checked against the other
half and against random latents' contexts (`docs/LABELS.md`, written by `python -m saif_ui label-report`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.saif.interpret.cards import LatentCards
from saif_ui.saif.interpret.cards_store import find_cards

if TYPE_CHECKING:
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

LABELS_VERSION = 1
"""Bump when the method changes: labels of another version are made again."""
NEIGHBOUR_WEIGHT = 0.5
TOKENS_PER_LABEL = 2
LANGUAGE_PROBABILITY = 0.9
"""How sure langdetect must be that a latent's contexts are in one non-English language to tag the label with it."""
LABELS_FILE = "labels.json"
"""Labels shipped beside an SAE (with the key of the cards they were made from)."""


@dataclass(frozen=True)
class Label:
    latent: int
    text: str
    """What the UI shows, e.g. "fr: bonjour / merci"; "" for a latent that never fired on the held-out chats."""
    tokens: tuple[int, ...]
    """The token ids the label names (best first)."""
    language: str | None = None


def peak_tokens(cards: LatentCards, contexts: Sequence[int] | None = None) -> list[dict[int, float]]:
    """Per latent, token id -> weight at and beside its peaks, over the given context slots (default: all)."""
    centre = cards.config.before
    slots = list(range(cards.values.shape[1])) if contexts is None else list(contexts)
    out: list[dict[int, float]] = []
    for latent in range(cards.n_latents):
        counts: dict[int, float] = {}
        values = cards.values[latent]
        top = float(values.max()) if values.size else 0.0
        for k in slots:
            if values[k] <= 0 or top <= 0:
                continue
            strength = float(values[k]) / top
            for offset, weight in ((0, 1.0), (-1, NEIGHBOUR_WEIGHT), (1, NEIGHBOUR_WEIGHT)):
                i = centre + offset
                if 0 <= i < cards.ids.shape[2] and int(cards.ids[latent, k, i]) >= 0:
                    tok = int(cards.ids[latent, k, i])
                    counts[tok] = counts.get(tok, 0.0) + weight * strength
        out.append(counts)
    return out


def rank_tokens(counts: list[dict[int, float]], per_latent: int = TOKENS_PER_LABEL) -> list[tuple[int, ...]]:
    """Per latent, its `per_latent` best tokens by weight × inverse latent frequency (ties: the smaller id)."""
    n = len(counts)
    df: Counter[int] = Counter()
    for c in counts:
        df.update(c.keys())
    out = []
    for c in counts:
        scored = sorted(((-w * (math.log(n / df[t]) + 1.0), t) for t, w in c.items()), key=lambda x: (x[0], x[1]))
        out.append(tuple(t for _, t in scored[:per_latent]))
    return out


def _language(texts: list[str]) -> str | None:
    """The non-English language of a latent's contexts, when langdetect (seeded) gives it at least
    `LANGUAGE_PROBABILITY` on their joined text; None for English, mixed or too little text."""
    from langdetect import DetectorFactory, LangDetectException, detect_langs

    DetectorFactory.seed = 0  # langdetect samples; seeded, it is deterministic
    text = " ".join(texts)
    if sum(ch.isalpha() for ch in text) < 40:
        return None
    try:
        best = detect_langs(text)[0]
    except LangDetectException:
        return None
    return str(best.lang) if best.lang != "en" and best.prob >= LANGUAGE_PROBABILITY else None


def latent_labels(cards: LatentCards, tokenizer: PreTrainedTokenizerBase, languages: bool = True) -> list[Label]:
    """A label for every latent of `cards` (see the module docstring)."""
    best = rank_tokens(peak_tokens(cards))
    out = []
    for latent, tokens in enumerate(best):
        raw = [str(tokenizer.decode([t])) for t in tokens]
        words = [w.strip() or repr(w) for w in raw]
        lang = None
        if languages and tokens:
            texts = [
                str(tokenizer.decode([int(i) for i in cards.ids[latent, k] if int(i) >= 0]))
                for k in np.flatnonzero(cards.values[latent] > 0)
            ]
            lang = _language(texts)
        text = " / ".join(dict.fromkeys(words))
        out.append(Label(latent, f"{lang}: {text}" if lang and text else text, tokens, lang))
    return out


def label_precision(cards: LatentCards, seed: int = 0) -> dict[str, Any]:
    """Split-half check of the method: labels (their token ids) from the odd-ranked top contexts, then, per latent
    with at least two contexts in each half, whether any of its even-ranked contexts holds a label token at or beside
    its peak ("own"), and whether the contexts of a random other latent do ("random", seeded). Returns the counts;
    the report adds intervals and McNemar's paired test."""
    n_slots = cards.values.shape[1]
    train, held = list(range(0, n_slots, 2)), list(range(1, n_slots, 2))
    labels = rank_tokens(peak_tokens(cards, train))
    held_counts = peak_tokens(cards, held)
    usable = [
        i for i in range(cards.n_latents)
        if labels[i] and (cards.values[i, train] > 0).sum() >= 2 and (cards.values[i, held] > 0).sum() >= 2
    ]  # fmt: skip
    rng = np.random.default_rng(seed)
    own, rand = [], []
    for i in usable:
        other = int(rng.choice([j for j in usable if j != i])) if len(usable) > 1 else i
        own.append(any(t in held_counts[i] for t in labels[i]))
        rand.append(any(t in held_counts[other] for t in labels[i]))
    return {"n_latents": len(usable), "own": own, "random": rand, "train_slots": train, "held_slots": held}


def labels_of(engine: Engine, sae: str) -> dict[int, str]:
    """Latent -> label for an attached SAE: shipped beside it (`labels.json` made from the same cards), else cached
    on disk, else made now from its cards and cached; {} when the SAE has no cards yet (the UI then shows the
    logit lens alone)."""
    cards = find_cards(engine, sae)
    if cards is None:
        return {}
    folder = Path(engine.sae(sae).source).expanduser()
    for path in (folder / LABELS_FILE, Path(engine.config.cache_dir) / "labels" / f"{cards.key}.json"):
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if data.get("cards_key") == cards.key and data.get("version") == LABELS_VERSION:
                return {int(k): str(v) for k, v in data["labels"].items()}
    labels = {lab.latent: lab.text for lab in latent_labels(cards, engine.tokenizer) if lab.text}
    write_labels(Path(engine.config.cache_dir) / "labels" / f"{cards.key}.json", cards.key, labels)
    return labels


def write_labels(path: Path, cards_key: str, labels: dict[int, str]) -> Path:
    """Labels as JSON (atomically: a half-written file is never read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"version": LABELS_VERSION, "cards_key": cards_key, "labels": {str(k): v for k, v in labels.items()}}
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


def ship_labels(engine: Engine, sae: str) -> Path:
    """Write `labels.json` beside a folder SAE from its shipped cards (what `ship-assets` does after the cards)."""
    cards = find_cards(engine, sae)
    if cards is None:
        raise SaifError(f"{sae} has no cards: ship its cards first")
    labels = {lab.latent: lab.text for lab in latent_labels(cards, engine.tokenizer) if lab.text}
    return write_labels(Path(engine.sae(sae).source).expanduser() / LABELS_FILE, cards.key, labels)
