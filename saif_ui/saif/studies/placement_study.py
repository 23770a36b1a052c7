"""Post vs pre placement (SAIF: an instruction after the content is followed better and gives better latents).

For each instruction with a recipe, on the same test contents as the steering study, with the same decoding:
- *prompted*: the instruction after (`post`, the steering study's prompted answers) vs before (`pre`) the content.
  The headline here is fluent strict (compliant, not a loop): `success` measures fidelity to the post-prompted
  answer, which would favour post by construction.
- *discovery*: the top latents found with the instruction after vs before (discovery split, the recipe's layer and
  settings), their Jaccard overlap at the recipe's k and at 20.
- *steering*: the recipe (post-discovered latents, the steering study's steered answers) vs the same recipe with
  its latents replaced by the pre-discovered top-k (the same layer, k, α × mean activation, positions and decay).
  Both judged on success against the same post-prompted answers with the recipe's threshold; the recipe's α was
  chosen for the post latents, so any bias favours post, and the study says so.
The post answers are read from the shipped steering study (its key is part of this one's), so both placements are
compared on exactly the outputs that study shows; only the pre answers are generated here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import DiscoveryResult, discover
from saif_ui.saif.discovery.scoring import jaccard
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.judge.stats import mcnemar_exact
from saif_ui.saif.steering.spec import spec_from_discovery
from saif_ui.saif.studies import derived, steering_study
from saif_ui.saif.studies.findings_placement import (
    PlacementResult,
    placement_claim,
    placement_glance,
    placement_section,
)
from saif_ui.saif.studies.shipped import Log
from saif_ui.saif.studies.study import Doc

NAME = "placement"
VERSION = 2
"""2: the prompted `strict` comparison reads strict verdicts (v1 read fluent strict for both)."""
N_DISCOVERY = 48
"""Discovery contents, as the recipe search uses (`SearchConfig.n_discovery`)."""
OVERLAP_AT = 20


def run_instruction(item: derived.Item, log: Log = print) -> dict[str, Any]:
    """The study for one instruction (uncached; `STUDY` ships it)."""
    engine, recipe = item.engine, item.recipe
    spec, iid = recipe.spec, recipe.instruction
    sae = spec.latents[0].sae
    dcfg = DiscoveryConfig(n_contents=N_DISCOVERY)
    found = {p: discover(engine, iid, sae, replace(dcfg, placement=p)) for p in ("post", "pre")}
    pre_spec = replace(
        spec_from_discovery(found["pre"], k=recipe.k, positions=spec.positions),
        alpha=spec.alpha,
        decay=spec.decay,
        decay_power=spec.decay_power,
        scale=spec.scale,
    )
    log(f"{NAME}/{iid}: prompted (pre) and steered with pre-discovered latents on {len(item.contents)} test contents")
    pre_prompted = item.judged(spec, "prompted", placement="pre")
    pre_steered = item.judged(pre_spec)

    def compare(post: list[bool], pre: list[bool]) -> dict[str, Any]:
        return {
            "post": steering_study.rate(post),
            "pre": steering_study.rate(pre),
            "paired": mcnemar_exact(post, pre).to_dict(),
        }

    prompted_cmp = {
        metric: compare(item.shipped_verdicts("prompted", metric), [bool(r[metric]) for r in pre_prompted])
        for metric in ("fluent_strict", "strict")
    }
    steering_cmp = {
        metric: compare(item.shipped_verdicts("steered", metric), [bool(r[metric]) for r in pre_steered])
        for metric in ("success", "fluent_strict")
    }
    post_ids, pre_ids = found["post"].ids, found["pre"].ids
    return {
        **item.header(),
        "prompted": {**prompted_cmp, "headline": "fluent_strict", "pre_outputs": pre_prompted},
        "discovery": {
            "layer": recipe.layer,
            "sae": sae,
            "n_contents": N_DISCOVERY,
            "post_top": post_ids[:OVERLAP_AT],
            "pre_top": pre_ids[:OVERLAP_AT],
            f"jaccard_at_{recipe.k}": round(jaccard(post_ids[: recipe.k], pre_ids[: recipe.k]), 4),
            f"jaccard_at_{OVERLAP_AT}": round(jaccard(post_ids[:OVERLAP_AT], pre_ids[:OVERLAP_AT]), 4),
            "k": recipe.k,
        },
        "steering": {
            **steering_cmp,
            "headline": "success",
            "pre_latents": [e.latent for e in pre_spec.latents],
            "post_latents": recipe.latents,
            "pre_outputs": pre_steered,
        },
    }


def summary(iid: str, doc: Doc) -> list[str]:
    r: PlacementResult = doc["result"]
    p, s, d = r["prompted"]["fluent_strict"], r["steering"]["success"], r["discovery"]
    overlap = d[f"jaccard_at_{d['k']}"]
    return [
        f"{iid}: prompted post {p['post']['rate']:.0%} vs pre {p['pre']['rate']:.0%} (p {p['paired']['p']:.3g}); "
        f"steered post {s['post']['rate']:.0%} vs pre {s['pre']['rate']:.0%} (p {s['paired']['p']:.3g}); "
        f"top-{d['k']} Jaccard {overlap} ({doc['seconds']:.0f} s)"
    ]


STUDY = derived.derived_study(
    NAME,
    VERSION,
    run_instruction,
    splits=("discovery", "test"),
    key_fields=lambda engine, recipe: {"n_discovery": N_DISCOVERY, "overlap_at": OVERLAP_AT},
    command="placement-study",
    help="instruction after vs before the content, in the prompted baseline, at discovery and when steering",
    summary=summary,
    order=40,
    section=placement_section,
    claim=lambda docs: [placement_claim(docs)],
    glance=placement_glance,
    pending="post vs pre placement",
)


# ---- discovery under both placements, on its own (`python -m saif_ui discover --placement-study`): no steering,
# no test contents; what the shipped study above reports at the recipe's k, here for any SAE and settings.

QUANTILES = (0.5, 0.9, 0.99, 0.999, 1.0)


@dataclass
class PlacementDiscovery:
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


def compare_placements(
    engine: Engine,
    instruction: Instruction | str,
    sae_name: str,
    cfg: DiscoveryConfig | None = None,
    *,
    use_cache: bool = True,
) -> PlacementDiscovery:
    """Run discovery under `pre` and `post` with otherwise equal settings and compare their top-k (Jaccard).

    Args:
        cfg: settings of both runs; its `placement` is ignored.
        use_cache: read discovery's disk cache (results are always written to it).
    """
    base = cfg or DiscoveryConfig()
    pre = discover(engine, instruction, sae_name, replace(base, placement="pre"), use_cache=use_cache)
    post = discover(engine, instruction, sae_name, replace(base, placement="post"), use_cache=use_cache)
    return PlacementDiscovery(
        pre=pre,
        post=post,
        jaccard=jaccard(pre.ids, post.ids),
        shared=sorted(set(pre.ids) & set(post.ids)),
        distributions={"pre": score_distribution(pre), "post": score_distribution(post)},
    )
