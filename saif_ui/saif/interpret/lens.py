"""What a latent's decoder direction says: logit lens, similarity to the instruction's words, neighbours."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.engine.model import final_norm
from saif_ui.engine.order import rank_desc, tie_key

_STOPWORDS_TEXT = """a an the this that these those it its of in into to for as at on by with and or your you
text passage answer above below following give write rewrite return make put turn use please me all only"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
"""Words of an instruction that say nothing about what it asks (shared by most wordings)."""
_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")


LensRank = Literal["cosine", "logit"]


@dataclass(frozen=True)
class LensToken:
    id: int
    token: str
    """Decoded text of the token (leading space kept)."""
    logit: float
    """Logit the direction (rescaled to RMS 1) gives the token through the final norm and unembedding."""
    cosine: float
    """The same logit divided by the lengths of both vectors (what the lens ranks by default)."""


@dataclass(frozen=True)
class LogitLens:
    """Tokens a direction promotes and suppresses when read straight through the final norm and unembedding."""

    promoted: list[LensToken]
    suppressed: list[LensToken]

    def to_dict(self) -> dict[str, list[dict[str, object]]]:
        return {"promoted": [asdict(t) for t in self.promoted], "suppressed": [asdict(t) for t in self.suppressed]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogitLens:
        return cls(
            promoted=[LensToken(**t) for t in data["promoted"]],
            suppressed=[LensToken(**t) for t in data["suppressed"]],
        )


def decode_tokens(engine: Engine, ids: Sequence[int]) -> list[str]:
    return [str(engine.tokenizer.decode([int(i)])) for i in ids]


def lens_logits(engine: Engine, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and cosines [k, vocab] of directions [k, d_model] read through the final norm and the unembedding.

    Directions are rescaled to RMS 1 first (a typical residual's scale), so the norm's epsilon cannot matter and
    decoder rows of any length compare. The cosine divides each logit by the lengths of the normed direction and of
    the token's unembedding row.
    """
    model = engine.model
    w_u = model.get_output_embeddings().weight
    with torch.no_grad():
        x = torch.nn.functional.normalize(directions.detach().float(), dim=-1) * directions.shape[-1] ** 0.5
        h = final_norm(model)(x.to(device=w_u.device, dtype=w_u.dtype))
        logits = (h @ w_u.T).float()
        cosine = logits / (h.float().norm(dim=-1, keepdim=True) * w_u.float().norm(dim=-1)).clamp(min=1e-12)
    return logits.cpu(), cosine.cpu()


def logit_lens(engine: Engine, directions: torch.Tensor, top_n: int = 10, by: LensRank = "cosine") -> list[LogitLens]:
    """Top promoted and suppressed tokens of each direction ([d_model] or [k, d_model]).

    Ranked by cosine by default: SmolLM2-135M has a few under-trained tokens with unembedding rows 2-3x longer than
    most (' strugg', ' dissemin', '<filename>'), and ranked by raw logit they top the lens of almost any direction
    (measured: the unembedding row of a random token comes back first for only 12% of 300 tokens by logit, 100% by
    cosine). Ties (values equal up to float noise, see `tie_key`) go to the lower token id, on any CPU.

    Example:
        >>> lens = logit_lens(engine, engine.sae("L24_fast_topk64").sae.W_dec[[12, 40]])
        >>> [t.token for t in lens[0].promoted[:3]]
    """
    if by not in ("cosine", "logit"):
        raise SaifError(f"by must be cosine or logit, not {by!r}")
    if directions.ndim == 1:
        directions = directions[None]
    logits, cosine = lens_logits(engine, directions)
    key = cosine if by == "cosine" else logits
    n = min(top_n, key.shape[1])
    out = []
    for k in range(key.shape[0]):

        def tokens(ids: list[int], k: int = k) -> list[LensToken]:
            return [
                LensToken(i, s, float(logits[k, i]), float(cosine[k, i]))
                for i, s in zip(ids, decode_tokens(engine, ids), strict=True)
            ]

        # Stable sorts of the rounded values, not `topk`, whose order among equal values is unspecified.
        rounded = tie_key(key[k])
        hi = torch.sort(-rounded, stable=True).indices[:n].tolist()
        lo = torch.sort(rounded, stable=True).indices[:n].tolist()
        out.append(LogitLens(promoted=tokens(hi), suppressed=tokens(lo)))
    return out


def instruction_words(texts: Sequence[str], max_words: int = 6) -> list[str]:
    """The words that carry an instruction's meaning, from its first wording (e.g. "Translate", "French").

    Example:
        >>> instruction_words(["Translate the text into French."])
        ['Translate', 'French']
    """
    words: list[str] = []
    for word in _WORD.findall(texts[0] if texts else ""):
        if word.lower() not in STOPWORDS and word.lower() not in (w.lower() for w in words):
            words.append(word)
    return words[:max_words]


def word_vectors(engine: Engine, words: Sequence[str]) -> torch.Tensor:
    """Token-embedding vector of each word [n, d_model]: the mean of its tokens' rows, spelled with a leading space
    as it appears mid-sentence (`" French"` is one token, `"French"` may not be)."""
    emb = engine.model.get_input_embeddings().weight.detach().float().cpu()  # type: ignore[operator]
    rows = []
    for word in words:
        ids = engine.tokenizer(" " + word.strip(), add_special_tokens=False)["input_ids"]
        if not ids:
            raise SaifError(f"word {word!r} has no tokens")
        rows.append(emb[ids].mean(0))
    return torch.stack(rows) if rows else emb.new_zeros((0, emb.shape[1]))


def word_similarity(engine: Engine, directions: torch.Tensor, words: Sequence[str]) -> torch.Tensor:
    """Cosine similarity [k, n_words] between latent directions [k, d_model] and the words' token embeddings."""
    if directions.ndim == 1:
        directions = directions[None]
    vecs = word_vectors(engine, words)
    d = torch.nn.functional.normalize(directions.detach().float().cpu(), dim=-1)
    return d @ torch.nn.functional.normalize(vecs, dim=-1).T


def neighbours(w_dec: torch.Tensor, latent: int, top_n: int = 10) -> list[tuple[int, float]]:
    """The `top_n` latents whose decoder directions are closest (cosine) to `latent`'s: itself first at 1.0, then by
    cosine, ties by id.

    Cosines are computed in float64 and rounded to 1e-6 before ordering: BLAS kernels differ between CPUs in the
    last bits, so two duplicate directions may come out as 1.0 and 0.9999999 on one machine and the other way round
    on another; rounding makes them a tie and the id decides, the same everywhere."""
    if not 0 <= latent < w_dec.shape[0]:
        raise SaifError(f"latent {latent} is out of range 0..{w_dec.shape[0] - 1}")
    with torch.no_grad():
        unit = torch.nn.functional.normalize(w_dec.detach().double().cpu(), dim=-1)
        sims = torch.round(unit @ unit[latent], decimals=6)
        sims[latent] = 2.0  # sorts first whatever its neighbours' cosines
        order = rank_desc(sims, min(top_n, sims.shape[0]))
    return [(int(i), 1.0 if int(i) == latent else float(sims[i])) for i in order]
