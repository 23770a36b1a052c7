"""Per-latent contrast statistics of positives vs negatives, SAIF scores, flags and ranking (pure torch)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import torch

from saif_ui.engine.errors import SaifError
from saif_ui.engine.order import tie_key
from saif_ui.saif.discovery.config import (
    DENSE_THRESHOLD,
    POSITIONS,
    SCORES,
    SPECIAL_THRESHOLD,
    Positions,
    ScoreKind,
)
from saif_ui.saif.inputs.prompts import Prompt

Flag = Literal["special", "dense"]

ACTIVE = 0.0
"""A latent is active at a token when its activation exceeds this (SAE latents are >= 0)."""
_EPS = 1e-8


def select_positions(prompt: Prompt, positions: Positions) -> torch.Tensor:
    """Token indices to score in one prompt; position 0 (the attention sink) is always excluded.

    - `last`: the last prompt token, where the model starts its answer;
    - `instruction`: the instruction's tokens; for a negative (no instruction) its content tokens, so the contrast
      is "instruction text vs ordinary text";
    - `after_content`: every token after the content (the instruction under `post`, and the template's closing
      tokens), so a negative contributes its closing tokens;
    - `prompt`: every token.
    """
    n = prompt.n_tokens
    if positions == "last":
        idx = [n - 1]
    elif positions == "instruction":
        idx = (prompt.instruction_tokens or prompt.content_tokens).indices()
    elif positions == "after_content":
        idx = list(range(prompt.content_tokens.end, n))
    elif positions == "prompt":
        idx = list(range(n))
    else:
        raise SaifError(f"positions must be one of {', '.join(POSITIONS)}, not {positions!r}")
    idx = [i for i in idx if i > 0]
    if not idx:
        raise SaifError(f"no token to score at positions {positions!r} in a {n}-token prompt")
    return torch.tensor(idx, dtype=torch.long)


def reduce_prompt(latents: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean activation and share of active tokens over the selected positions of one prompt ([T, d] -> 2 x [d]).

    Each prompt is one sample: reducing its tokens first keeps many correlated tokens of one prompt from
    counting as independent evidence in the t statistic.
    """
    rows = latents[idx].float()
    return rows.mean(0), (rows > ACTIVE).float().mean(0)


@dataclass
class TokenTally:
    """Running per-latent counts over every token (position 0 excluded) of all prompts, for the flags."""

    n_tokens: int
    active: torch.Tensor
    mass: torch.Tensor
    mass_special: torch.Tensor

    @classmethod
    def zeros(cls, d_sae: int) -> TokenTally:
        z = torch.zeros(d_sae, dtype=torch.float64)
        return cls(0, z.clone(), z.clone(), z.clone())

    def add(self, latents: torch.Tensor, special_mask: torch.Tensor) -> None:
        lat, special = latents[1:].double(), special_mask[1:]
        self.n_tokens += int(lat.shape[0])
        self.active += (lat > ACTIVE).sum(0)
        self.mass += lat.clamp(min=0).sum(0)
        self.mass_special += lat[special].clamp(min=0).sum(0)


@dataclass
class LatentStats:
    """Contrast statistics for every latent of one SAE ([d_sae] each), over prompt-level samples."""

    freq_pos: torch.Tensor
    """Mean over positives of the share of scored tokens where the latent is active."""
    freq_neg: torch.Tensor
    mean_pos: torch.Tensor
    """Mean over positives of the mean activation on scored tokens."""
    mean_neg: torch.Tensor
    t: torch.Tensor
    """Welch's t of the per-prompt mean activations (grows with sqrt(n))."""
    effect: torch.Tensor
    """Standardised mean difference (mean_pos - mean_neg) / sqrt((var_pos + var_neg) / 2): t without the n."""
    density: torch.Tensor
    """Share of all tokens (positives and negatives, position 0 excluded) where the latent is active."""
    special_share: torch.Tensor
    """Share of the latent's activation mass on special tokens."""
    n_pos: int
    n_neg: int

    @property
    def d_sae(self) -> int:
        return int(self.freq_pos.shape[0])

    def score(self, kind: ScoreKind = "t") -> torch.Tensor:
        """Per-latent score; higher means more instruction-specific.

        - `freq`: freq_pos - freq_neg (how reliably the instruction switches the latent on);
        - `mean`: mean_pos - mean_neg (raw size; favours latents with large activations);
        - `t`: Welch's t;
        - `combined`: max(freq diff, 0) * max(effect, 0): a latent must both switch on reliably and move by much
          compared with its spread; neither big-but-rare nor frequent-but-tiny latents rank high.
        """
        freq = self.freq_pos - self.freq_neg
        if kind == "freq":
            return freq
        if kind == "mean":
            return self.mean_pos - self.mean_neg
        if kind == "t":
            return self.t
        if kind == "combined":
            return freq.clamp(min=0) * self.effect.clamp(min=0)
        raise SaifError(f"score must be one of {', '.join(SCORES)}, not {kind!r}")

    def flags(
        self, dense_threshold: float = DENSE_THRESHOLD, special_threshold: float = SPECIAL_THRESHOLD
    ) -> dict[Flag, torch.Tensor]:
        """Boolean [d_sae] masks of latents to rank apart: `special` (lives on special tokens) and `dense` (on
        nearly every token)."""
        return {"special": self.special_share >= special_threshold, "dense": self.density >= dense_threshold}

    def to_numpy(self) -> dict[str, np.ndarray]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: np.asarray(v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in out.items()}

    @classmethod
    def from_numpy(cls, data: dict[str, np.ndarray]) -> LatentStats:
        kw: dict[str, object] = {}
        for f in fields(cls):
            value = data[f.name]
            kw[f.name] = int(value) if f.name in ("n_pos", "n_neg") else torch.from_numpy(np.array(value))
        return cls(**kw)  # type: ignore[arg-type]


def contrast(
    pos_mean: torch.Tensor,
    pos_freq: torch.Tensor,
    neg_mean: torch.Tensor,
    neg_freq: torch.Tensor,
    tally: TokenTally,
) -> LatentStats:
    """Statistics from per-prompt reductions ([N_pos, d] and [N_neg, d]) and the token tally."""
    if pos_mean.shape[0] < 1 or neg_mean.shape[0] < 1:
        raise SaifError("need at least one positive and one negative prompt")
    n_p, n_n = pos_mean.shape[0], neg_mean.shape[0]
    m_p, m_n = pos_mean.double().mean(0), neg_mean.double().mean(0)
    v_p = pos_mean.double().var(0, correction=1 if n_p > 1 else 0)
    v_n = neg_mean.double().var(0, correction=1 if n_n > 1 else 0)
    diff = m_p - m_n
    t = diff / torch.sqrt(v_p / n_p + v_n / n_n + _EPS)
    effect = diff / torch.sqrt((v_p + v_n) / 2 + _EPS)
    n_tok = max(tally.n_tokens, 1)
    return LatentStats(
        freq_pos=pos_freq.double().mean(0).float(),
        freq_neg=neg_freq.double().mean(0).float(),
        mean_pos=m_p.float(),
        mean_neg=m_n.float(),
        t=t.float(),
        effect=effect.float(),
        density=(tally.active / n_tok).float(),
        special_share=(tally.mass_special / tally.mass.clamp(min=_EPS)).float(),
        n_pos=n_p,
        n_neg=n_n,
    )


def rank(
    stats: LatentStats,
    kind: ScoreKind = "t",
    top_k: int = 20,
    *,
    dense_threshold: float = DENSE_THRESHOLD,
    special_threshold: float = SPECIAL_THRESHOLD,
) -> tuple[list[int], list[int]]:
    """Top-k latent ids by score, unflagged first list, flagged (special or dense) second list, each ranked apart.

    Ties are broken by the lower id, so the ranking is deterministic; scores equal up to float noise (see `tie_key`)
    count as ties. Latents with a score <= 0 are left out: they are no more active with the instruction than without
    it.
    """
    if top_k < 1:
        raise SaifError("top_k must be >= 1")
    score = tie_key(stats.score(kind))
    flagged = torch.zeros(stats.d_sae, dtype=torch.bool)
    for mask in stats.flags(dense_threshold, special_threshold).values():
        flagged |= mask
    # A stable sort on -score keeps ids ascending among equal scores.
    order = torch.sort(-score, stable=True).indices
    order = order[score[order] > 0]
    is_flagged = flagged[order]
    return order[~is_flagged][:top_k].tolist(), order[is_flagged][:top_k].tolist()


def latent_flags(
    stats: LatentStats,
    latent: int,
    dense_threshold: float = DENSE_THRESHOLD,
    special_threshold: float = SPECIAL_THRESHOLD,
) -> list[str]:
    """Names of the flags one latent carries."""
    return [name for name, mask in stats.flags(dense_threshold, special_threshold).items() if bool(mask[latent])]


def jaccard(a: list[int] | set[int], b: list[int] | set[int]) -> float:
    """|A ∩ B| / |A ∪ B| (1.0 for two empty sets)."""
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0
