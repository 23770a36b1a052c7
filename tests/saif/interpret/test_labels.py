"""Context labels: the tokens at a latent's peaks that are rare at other latents' peaks, the language tag, the
split-half check, and the shipped labels matching the shipped cards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from saif_ui.saif.interpret.cards import CardsConfig, LatentCards
from saif_ui.saif.interpret.labels import LABELS_FILE, label_precision, latent_labels, peak_tokens, rank_tokens
from tests.conftest import shipped_sae_folders


def cards_from(windows: list[list[list[int]]], values: list[list[float]]) -> LatentCards:
    """Cards with the given token windows (before=2, after=1: the peak is index 2) and top activations."""
    cfg = CardsConfig(before=2, after=1, top_n=len(values[0]))
    ids = np.asarray(windows, dtype=np.int32)
    vals = np.asarray(values, dtype=np.float32)
    n, k = vals.shape
    return LatentCards(
        sae="test", model="m", config=cfg, n_tokens=1000, conversation_ids=["c0"], values=vals, ids=ids,
        acts=np.zeros(ids.shape, np.float16), conv=np.zeros((n, k), np.int32), pos=np.zeros((n, k), np.int32),
        fired=(vals > 0).sum(1).astype(np.int64), act_sum=vals.sum(1), max_act=vals.max(1),
        hist=np.zeros((n, 40), np.int32),
    )  # fmt: skip


def test_the_label_is_what_this_latent_peaks_on_not_what_every_latent_does(engine) -> None:
    tok = engine.tokenizer

    def one(word: str) -> int:
        [token] = tok.encode(word)  # a word that is a single token
        return int(token)

    the, comma, bonjour, merci, python = one(" the"), one(","), one(" dog"), one(" cat"), one(" code")
    # Every latent has " the" beside its peak; latent 0 peaks on " dog" / " cat", latent 1 on " code",
    # latent 2 never fired, and ten more peak each on a token of its own (so " the" is at most latents' peaks).
    w0 = [[comma, the, bonjour, the], [comma, the, merci, the], [comma, the, bonjour, the], [comma, the, merci, the]]
    w1 = [[comma, the, python, the]] * 4
    others = [[[comma, the, 3000 + i, the]] * 4 for i in range(10)]
    cards = cards_from(
        [w0, w1, [[-1] * 4] * 4, *others], [[9, 8, 7, 6], [5, 5, 4, 4], [0, 0, 0, 0]] + [[3, 3, 3, 3]] * 10
    )
    counts = peak_tokens(cards)
    assert counts[0][bonjour] == pytest.approx(1 + 7 / 9) and counts[0][the] > counts[0][bonjour] and not counts[2]
    best = rank_tokens(counts)
    # " the" weighs most at latent 0's peaks, but it is beside 12 of 13 latents' peaks: the label skips it.
    assert best[0] == (bonjour, merci) and best[1][0] == python and best[2] == ()
    labels = latent_labels(cards, tok, languages=False)
    assert labels[0].text == "dog / cat" and labels[1].text.startswith("code") and labels[2].text == ""


def test_a_clear_foreign_language_tags_the_label(engine) -> None:
    tok = engine.tokenizer
    french = tok.encode(" le chat est sur la table et il regarde la pluie tomber dans le jardin")
    english = tok.encode(" the cat is on the table and it looks at the rain falling in the garden")
    cards = cards_from([[french[i : i + 4] for i in range(0, 16, 4)], [english[i : i + 4] for i in range(0, 16, 4)]],
                       [[4, 3, 2, 1], [4, 3, 2, 1]])  # fmt: skip
    fr, en = latent_labels(cards, tok)
    assert fr.language == "fr" and fr.text.startswith("fr: ")
    assert en.language is None and not en.text.startswith("en")


def test_split_half_counts_own_and_random_hits() -> None:
    # Latents 0 and 1 each peak on their own token in every context; a label from the even slots finds its token in
    # the odd slots (own) but not in the other latent's (random).
    cards = cards_from([[[20 + i, 30 + i, 10 + i, 40 + i]] * 4 for i in range(2)], [[4, 3, 2, 1]] * 2)
    split = label_precision(cards)
    assert split["n_latents"] == 2 and split["own"] == [True, True] and split["random"] == [False, False]


@pytest.mark.parametrize("folder", shipped_sae_folders())
def test_shipped_labels_were_made_from_the_shipped_cards(engine, folder) -> None:
    data = json.loads((Path(folder) / LABELS_FILE).read_text(encoding="utf-8"))
    cards = LatentCards.load(Path(folder) / "cards.npz")
    assert data["cards_key"] == cards.key
    assert len(data["labels"]) > 0.5 * cards.n_latents  # most latents fired on the held-out chats
    again = {lab.latent: lab.text for lab in latent_labels(cards, engine.tokenizer) if lab.text}
    sample = sorted(again)[:: max(1, len(again) // 50)]
    assert {i: data["labels"][str(i)] for i in sample} == {i: again[i] for i in sample}  # made by this code
