"""Latent cards from held-out chats: each latent's top activating contexts, activation histogram and density."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from saif_ui.engine.cache import load_npz, save_npz
from saif_ui.engine.errors import SaifError

if TYPE_CHECKING:
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase


log = logging.getLogger(__name__)
CARDS_VERSION = 1
"""Bump when the statistics change meaning, so old cached or shipped cards are not reused."""
SHIPPED_FILE = "cards.npz"
"""Precomputed cards inside a shipped SAE's folder."""
_U16_PAD = 0xFFFF
_ARRAYS = ("values", "ids", "acts", "conv", "pos", "fired", "act_sum", "max_act", "hist")


@dataclass(frozen=True)
class CardsConfig:
    """What the cards are computed from and what they keep. Every field but `batch_tokens` is part of the key."""

    n_conversations: int = 200
    """Held-out ShareGPT conversations (the FAST eval split, never seen in SAE training), shuffled by `seed`."""
    max_len: int = 512
    """Tokens kept per conversation. 200 x 512 gives ~92k tokens (position 0 excluded): measured 5.5 minutes for the
    three shipped SAEs in one pass up to layer 24 on a shared 2-core CPU."""
    system_prompt: bool = True
    """Render with the template's default system prompt, as the FAST harvests that trained the SAEs did."""
    top_n: int = 8
    before: int = 12
    """Tokens shown before the highlighted one."""
    after: int = 4
    chunk: int = 64
    """At most one top context per latent from each `chunk` tokens of a conversation, so a latent that fires on a run
    of neighbouring tokens does not fill its top list with copies of one passage."""
    hist_bins: int = 40
    hist_min: float = 1e-2
    hist_max: float = 1e3
    """Log-spaced histogram edges shared by all latents (8 bins a decade by default); the first and last bins also
    hold the values below and above the range, so the counts always sum to the number of firings."""
    seed: int = 0
    batch_tokens: int = 4096
    """Padded tokens per forward (not part of what is computed, so not part of the key)."""

    def __post_init__(self) -> None:
        if self.n_conversations < 1 or self.max_len < 2 or self.top_n < 1 or self.chunk < 1:
            raise SaifError("n_conversations >= 1, max_len >= 2, top_n >= 1 and chunk >= 1 are required")
        if self.before < 0 or self.after < 0:
            raise SaifError("before and after must be >= 0 tokens")
        if self.hist_bins < 1 or not 0 < self.hist_min < self.hist_max:
            raise SaifError("hist_bins >= 1 and 0 < hist_min < hist_max are required")
        if self.batch_tokens < self.max_len:
            raise SaifError(f"batch_tokens ({self.batch_tokens}) must be >= max_len ({self.max_len})")

    @property
    def window(self) -> int:
        return self.before + 1 + self.after

    def key_settings(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "batch_tokens"}


def hist_edges(cfg: CardsConfig) -> np.ndarray:
    """The `hist_bins + 1` log-spaced bin edges of every latent's histogram."""
    return np.logspace(math.log10(cfg.hist_min), math.log10(cfg.hist_max), cfg.hist_bins + 1)


@dataclass(frozen=True)
class Context:
    """One top activating context: the tokens around the latent's maximum in a chunk, with its activations."""

    value: float
    tokens: list[str]
    acts: list[float]
    highlight: int
    """Index in `tokens` of the token where the latent reached `value`."""
    conversation: str
    position: int
    """Position of the highlighted token in the rendered conversation (0 is the first `<|im_start|>`)."""


@dataclass
class LatentCards:
    """Cards of every latent of one SAE: arrays indexed by latent (L latents, N contexts, W window tokens)."""

    sae: str
    model: str
    config: CardsConfig
    n_tokens: int
    """Tokens seen (position 0 of each conversation excluded)."""
    conversation_ids: list[str]
    values: np.ndarray = field(repr=False)
    """[L, N] float32: top activations, descending (values equal up to float noise rank by conversation, then
    position); 0 marks an empty slot."""
    ids: np.ndarray = field(repr=False)
    """[L, N, W] int32 token ids of each window; -1 where the window runs past the conversation."""
    acts: np.ndarray = field(repr=False)
    """[L, N, W] float16: the latent's activation on each window token."""
    conv: np.ndarray = field(repr=False)
    """[L, N] int32 index into `conversation_ids`."""
    pos: np.ndarray = field(repr=False)
    """[L, N] int32 position of the highlighted token in its conversation."""
    fired: np.ndarray = field(repr=False)
    """[L] int64 tokens where the latent is > 0."""
    act_sum: np.ndarray = field(repr=False)
    """[L] float32 sum of activations where it fires."""
    max_act: np.ndarray = field(repr=False)
    hist: np.ndarray = field(repr=False)
    """[L, hist_bins] int32 counts of positive activations in the log-spaced bins of `hist_edges(config)`."""
    key: str = ""
    sae_fingerprint: str = ""
    seconds: float = 0.0
    source: Literal["computed", "cache", "shipped", "file"] = "computed"

    @property
    def n_latents(self) -> int:
        return int(self.values.shape[0])

    @property
    def density(self) -> np.ndarray:
        """[L] fraction of tokens where each latent fires."""
        return self.fired / max(self.n_tokens, 1)

    def _check(self, latent: int) -> None:
        if not 0 <= latent < self.n_latents:
            raise SaifError(f"latent {latent} is out of range for {self.sae} (0..{self.n_latents - 1})")

    def contexts(self, latent: int, tokenizer: PreTrainedTokenizerBase) -> list[Context]:
        """The latent's top contexts, strongest first, with token ids decoded one by one (leading spaces kept)."""
        self._check(latent)
        out = []
        for k in np.flatnonzero(self.values[latent] > 0):
            ids = self.ids[latent, k]
            valid = np.flatnonzero(ids >= 0)
            lo, hi = int(valid[0]), int(valid[-1]) + 1
            out.append(
                Context(
                    value=float(self.values[latent, k]),
                    tokens=[str(tokenizer.decode([int(i)])) for i in ids[lo:hi]],
                    acts=[round(float(a), 4) for a in self.acts[latent, k, lo:hi]],
                    highlight=self.config.before - lo,
                    conversation=self.conversation_ids[int(self.conv[latent, k])],
                    position=int(self.pos[latent, k]),
                )
            )
        return out

    def summary(self, latent: int, tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
        """JSON-ready card of one latent: density, max, mean when firing, histogram and top contexts."""
        self._check(latent)
        fired = int(self.fired[latent])
        return {
            "source": self.source,
            "n_tokens": self.n_tokens,
            "n_conversations": len(self.conversation_ids),
            "density": float(self.density[latent]),
            "fired": fired,
            "max": float(self.max_act[latent]),
            "mean_when_firing": float(self.act_sum[latent]) / fired if fired else 0.0,
            "histogram": {"edges": hist_edges(self.config).tolist(), "counts": self.hist[latent].tolist()},
            "contexts": [asdict(c) for c in self.contexts(latent, tokenizer)],
        }

    def save(self, path: str | Path) -> Path:
        """Write a compact npz atomically (~3 MB for 4,096 latents): token ids as uint16 when the vocabulary allows
        (-1 padding becomes 0xFFFF), window activations as float16; decoded only when a card is read."""
        path = Path(path)
        arrays = {name: np.asarray(getattr(self, name)) for name in _ARRAYS}
        if arrays["ids"].size and int(arrays["ids"].max()) < _U16_PAD:
            arrays["ids"] = np.where(arrays["ids"] < 0, _U16_PAD, arrays["ids"]).astype(np.uint16)
        arrays["acts"] = arrays["acts"].astype(np.float16)
        meta = {
            "format": "saif_ui.cards",
            "version": CARDS_VERSION,
            "sae": self.sae,
            "model": self.model,
            "key": self.key,
            "sae_fingerprint": self.sae_fingerprint,
            "config": asdict(self.config),
            "n_tokens": self.n_tokens,
            "conversation_ids": self.conversation_ids,
            "seconds": round(self.seconds, 1),
        }
        save_npz(path, arrays, meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatentCards:
        """Read cards written by `save`; a missing, corrupt or foreign file raises `ValueError` saying which."""
        loaded = load_npz(Path(path))
        if loaded is None:
            raise SaifError(f"{path} is missing or not a readable npz file")
        arrays, meta = loaded
        if meta.get("format") != "saif_ui.cards" or meta.get("version") != CARDS_VERSION:
            raise SaifError(f"{path} is not a version-{CARDS_VERSION} saif_ui cards file; regenerate it")
        missing = [name for name in _ARRAYS if name not in arrays]
        if missing:
            raise SaifError(f"{path} lacks arrays {missing}; regenerate it")
        ids = arrays["ids"].astype(np.int32)
        if arrays["ids"].dtype == np.uint16:
            ids[arrays["ids"] == _U16_PAD] = -1
        try:
            cfg = CardsConfig(**meta["config"])
            n_tokens, conversation_ids = int(meta["n_tokens"]), list(meta["conversation_ids"])
        except (KeyError, TypeError, ValueError) as e:
            raise SaifError(f"{path} has unreadable settings ({e}); regenerate it") from None
        n, top_n = arrays["values"].shape[0], cfg.top_n
        if ids.shape != (n, top_n, cfg.window) or arrays["hist"].shape != (n, cfg.hist_bins):
            raise SaifError(f"{path} has arrays of inconsistent shapes; regenerate it")
        return cls(
            sae=meta["sae"],
            model=meta["model"],
            config=cfg,
            n_tokens=n_tokens,
            conversation_ids=conversation_ids,
            **{name: arrays[name] for name in _ARRAYS if name != "ids"},
            ids=ids,
            key=meta.get("key", ""),
            sae_fingerprint=meta.get("sae_fingerprint", ""),
            seconds=float(meta.get("seconds", 0.0)),
            source="file",
        )
