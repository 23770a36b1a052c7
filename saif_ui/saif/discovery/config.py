"""Settings of a discovery run (torch-free, so `discover --help` builds its flags from them quickly).

Each exposed field's docstring is its `discover` flag's help (`cli.fields`); each default lives here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from saif_ui.engine.errors import SaifError
from saif_ui.saif.inputs.contents import Split

Positions = Literal["last", "instruction", "after_content", "prompt"]
POSITIONS: tuple[Positions, ...] = get_args(Positions)
ScoreKind = Literal["combined", "freq", "mean", "t"]
SCORES: tuple[ScoreKind, ...] = get_args(ScoreKind)
DiscoveryPlacement = Literal["post", "pre"]
"""The placements discovery contrasts (`inputs.prompts.Placement` less `none`: a pair needs the instruction)."""

DENSE_THRESHOLD = 0.5
"""Flag `dense` when a latent is active on at least this share of all scored prompts' tokens."""
SPECIAL_THRESHOLD = 0.5
"""Flag `special` when at least this share of a latent's activation mass sits on special tokens (which are ~15% of
positions): FAST shows such latents carry huge values (37-580 vs 1-5) that would swamp mean-based scores."""

DEFAULT_POSITIONS: Positions = "last"
DEFAULT_SCORE: ScoreKind = "t"
"""Chosen by measurement on L24_fast_topk64 (8 catalogue instructions, 48 discovery contents, placement post):
the last prompt token beat the other positions on both stability of the top-10 between an English-wordings half
and a translations half (0.15-0.29 Jaccard vs 0.03-0.16) and overlap between instructions (0.09-0.14 vs 0.29-0.61);
there, `t` gave the best held-out AUC (24 unseen contents; sum of top-k activations) against negatives (0.98-0.99)
and against other instructions (0.83-0.85) at k = 5, 10 and 20. `mean` is more stable across wordings but overlaps
more between instructions; `freq` and `combined` overlap least but generalise less."""


@dataclass(frozen=True)
class DiscoveryConfig:
    """Settings of one discovery run.

    The disk cache holds every latent's statistics, keyed by everything that changes them (model and its dtype, SAE
    source and weights, catalogue version, wordings, contents, placement, positions, n_contents, split, cross, system
    prompt; not the checkers: discovery judges nothing). `score`, `top_k`, the flag thresholds and `lens_tokens` are
    applied to those statistics on read, so changing them costs no forward pass.
    """

    placement: DiscoveryPlacement = "post"
    """`post`: content then instruction (the default: steers better in SAIF); `pre`: instruction first."""
    positions: Positions = DEFAULT_POSITIONS
    """Token positions to score."""
    score: ScoreKind = DEFAULT_SCORE
    """Per-latent score."""
    top_k: int = 20
    """Latents ranked (flagged ones are ranked apart)."""
    n_contents: int | None = 48
    """Contents from the split (statements and paragraphs alternating); None (0 on the command line): all of them."""
    split: Split = "discovery"
    cross: bool = False
    """Every content with every wording, instead of one wording per content (rotating)."""
    system_prompt: bool | None = None
    """The chat template's default system prompt; None: the engine's setting."""
    dense_threshold: float = DENSE_THRESHOLD
    special_threshold: float = SPECIAL_THRESHOLD
    lens_tokens: int = 5
    """Logit-lens tokens shown per latent."""
    batch_pairs: int = 8

    def __post_init__(self) -> None:
        if self.placement not in get_args(DiscoveryPlacement):
            raise SaifError(f"placement must be post or pre, not {self.placement!r}")
        if self.positions not in POSITIONS:
            raise SaifError(f"positions must be one of {', '.join(POSITIONS)}, not {self.positions!r}")
        if self.score not in SCORES:
            raise SaifError(f"score must be one of {', '.join(SCORES)}, not {self.score!r}")
        if self.top_k < 1 or (self.n_contents is not None and self.n_contents < 2) or self.batch_pairs < 1:
            raise SaifError("top_k >= 1, n_contents >= 2 and batch_pairs >= 1 are required")
