"""SAIF's placement study: discovery with the instruction before (`pre`) and after (`post`) the content."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.discover import DiscoveryConfig, DiscoveryResult, discover
from saif_ui.saif.discovery.scoring import jaccard
from saif_ui.saif.inputs.catalogue import Instruction

QUANTILES = (0.5, 0.9, 0.99, 0.999, 1.0)


@dataclass
class PlacementStudy:
    """Top-k of both placements, their overlap, and how each placement's scores are distributed."""

    pre: DiscoveryResult
    post: DiscoveryResult
    jaccard: float
    shared: list[int]
    distributions: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "instruction": self.post.instruction,
            "sae": self.post.sae,
            "layer": self.post.layer,
            "top_k": self.post.config.top_k,
            "jaccard": self.jaccard,
            "shared": self.shared,
            "distributions": self.distributions,
            "pre": self.pre.to_dict(),
            "post": self.post.to_dict(),
        }


def score_distribution(result: DiscoveryResult, bins: int = 30) -> dict[str, Any]:
    """Summary of all latents' scores: how many are positive, quantiles of the positive ones, the top-k scores, and a
    histogram of log10(score) for plotting (positive scores span several orders of magnitude)."""
    if result.stats is None:
        raise SaifError(
            "the score distribution needs every latent's statistics: run discovery (not a read-back result)"
        )
    score = result.stats.score(result.config.score).double()
    pos = score[score > 0]
    out: dict[str, Any] = {
        "n_latents": int(score.numel()),
        "n_positive": int(pos.numel()),
        "top": [row.score for row in result.latents],
    }
    if pos.numel():
        out["quantiles"] = {str(q): float(pos.quantile(q)) for q in QUANTILES}
        logs = pos.log10()
        lo, hi = float(logs.min()), float(logs.max())
        counts = torch.histc(logs, bins=bins, min=lo, max=hi if hi > lo else lo + 1)
        out["log10_histogram"] = {"min": lo, "max": hi, "counts": counts.long().tolist()}
    return out


def placement_study(
    engine: Engine,
    instruction: Instruction | str,
    sae_name: str,
    cfg: DiscoveryConfig | None = None,
    *,
    use_cache: bool = True,
) -> PlacementStudy:
    """Run discovery under `pre` and `post` with otherwise equal settings and compare their top-k (Jaccard).

    Args:
        cfg: settings of both runs; its `placement` is ignored.
        use_cache: read discovery's disk cache (results are always written to it).
    """
    base = cfg or DiscoveryConfig()
    pre = discover(engine, instruction, sae_name, replace(base, placement="pre"), use_cache=use_cache)
    post = discover(engine, instruction, sae_name, replace(base, placement="post"), use_cache=use_cache)
    return PlacementStudy(
        pre=pre,
        post=post,
        jaccard=jaccard(pre.ids, post.ids),
        shared=sorted(set(pre.ids) & set(post.ids)),
        distributions={"pre": score_distribution(pre), "post": score_distribution(post)},
    )
