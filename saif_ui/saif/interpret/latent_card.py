"""One latent's card: what its weights say (logit lens, decoder neighbours, closest instruction words) and, when its
SAE has activation cards, how it fires on held-out chats (density, histogram, top contexts)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.engine.order import rank_desc
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.interpret.cards import LatentCards
from saif_ui.saif.interpret.lens import LogitLens, instruction_words, logit_lens, neighbours, word_similarity


@dataclass(frozen=True)
class Neighbour:
    id: int
    cosine: float


@dataclass(frozen=True)
class WordMatch:
    word: str
    cosine: float


@dataclass(frozen=True)
class LatentCard:
    """What can be said about one latent. `neighbours` starts with the latent itself (cosine 1);
    `activations` is `LatentCards.summary` (density, histogram, top contexts) when its SAE has cards, else None."""

    sae: str
    layer: int
    id: int
    decoder_norm: float
    logit_lens: LogitLens
    neighbours: tuple[Neighbour, ...]
    instruction_words: tuple[WordMatch, ...]
    activations: dict[str, Any] | None = None
    label: str = ""
    """What the latent reads, from its top contexts (`interpret.labels`); "" without cards."""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "logit_lens": self.logit_lens.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatentCard:
        """A card from `to_dict()`; a malformed record is a ValueError."""
        try:
            return cls(
                sae=str(data["sae"]),
                layer=int(data["layer"]),
                id=int(data["id"]),
                decoder_norm=float(data["decoder_norm"]),
                logit_lens=LogitLens.from_dict(data["logit_lens"]),
                neighbours=tuple(Neighbour(**n) for n in data["neighbours"]),
                instruction_words=tuple(WordMatch(**w) for w in data.get("instruction_words", [])),
                activations=data.get("activations"),
                label=str(data.get("label") or ""),
            )
        except (KeyError, TypeError) as err:
            raise SaifError(f"not a latent card: missing or malformed field {err}") from None


def latent_card(
    engine: Engine,
    sae_name: str,
    latent: int,
    lens: int = 10,
    n_neighbours: int = 10,
    cards: LatentCards | None = None,
) -> LatentCard:
    """The card of `latent` of the attached SAE `sae_name`.

    Args:
        lens: logit-lens tokens each way (promoted and suppressed).
        n_neighbours: nearest latents in decoder space (the latent itself first).
        cards: the SAE's activation cards (`cards_store.find_cards`); None leaves `activations` out (None).

    Example:
        >>> card = latent_card(engine, "L24_fast_topk64", 2969)  # doctest: +SKIP
        >>> [t.token for t in card.logit_lens.promoted][:3]  # doctest: +SKIP
    """
    sae = engine.sae(sae_name)
    direction = sae.direction(latent)
    words = list(dict.fromkeys(w for i in load_catalogue() for w in instruction_words(i.variants())))
    sims = word_similarity(engine, direction, words)[0] if words else None
    order = rank_desc(sims, 5).tolist() if sims is not None else []  # ties by word order, on any CPU
    return LatentCard(
        sae=sae.name,
        layer=sae.layer,
        id=latent,
        decoder_norm=float(direction.norm()),
        logit_lens=logit_lens(engine, direction, top_n=lens)[0],
        neighbours=tuple(Neighbour(i, c) for i, c in neighbours(sae.sae.W_dec, latent, n_neighbours)),
        instruction_words=tuple(WordMatch(words[k], float(sims[k])) for k in order) if sims is not None else (),
        activations=cards.summary(latent, engine.tokenizer) if cards is not None else None,
    )
