"""What the engine returns: encodings of prompts and generated continuations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch


@dataclass
class Encoding:
    """One prompt as the model saw it: tokens, special-token mask, residuals per layer and SAE latents.

    Position 0 (BOS / the first `<|im_start|>`) carries a residual ~100x larger than the rest (an attention sink);
    consumers exclude it when harvesting or scoring (`content_mask`).
    """

    prompt: str
    token_ids: torch.Tensor
    """[T] int64."""
    tokens: list[str]
    special_mask: torch.Tensor
    """[T] bool: BOS, `<|im_start|>`, `<|im_end|>`, role words."""
    residuals: dict[int, torch.Tensor] = field(default_factory=dict)
    """layer -> [T, d_model] fp32 on CPU (output of that decoder block)."""
    latents: dict[str, torch.Tensor] = field(default_factory=dict)
    """SAE name -> [T, d_sae] fp32 on CPU."""

    @property
    def n_tokens(self) -> int:
        return int(self.token_ids.shape[0])

    @property
    def attention_mask(self) -> torch.Tensor:
        return torch.ones(self.n_tokens, dtype=torch.bool)

    def content_mask(self) -> torch.Tensor:
        """Positions to harvest or score: not position 0 and not a special token."""
        mask = ~self.special_mask.clone()
        mask[0] = False
        return mask


def pad_stack(tensors: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad per-prompt tensors [T_i, ...] into [B, T_max, ...] and return it with the attention mask [B, T_max]."""
    t_max = max(t.shape[0] for t in tensors)
    out = tensors[0].new_zeros((len(tensors), t_max, *tensors[0].shape[1:]))
    mask = torch.zeros(len(tensors), t_max, dtype=torch.bool)
    for i, t in enumerate(tensors):
        out[i, : t.shape[0]] = t
        mask[i, : t.shape[0]] = True
    return out, mask


@dataclass
class Generation:
    """A generated continuation of one prompt."""

    prompt: str
    text: str
    token_ids: list[int]
    finished: bool
    """True when the model ended its turn (EOS) before max_new_tokens."""
    seconds: float
    """Wall time of the whole batch this generation was part of."""
    cached: bool = False
    """Served from the engine's generation cache (greedy decoding only) without running the model."""
    stop_id: int | None = None
    """The end-of-turn token that ended the answer (not in `token_ids`); None when it ran to max_new_tokens."""
