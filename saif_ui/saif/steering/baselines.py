"""A steering baseline without an SAE: the mean difference of residuals with and without the instruction.

This is the classic contrastive activation-addition vector (ActAdd / CAA). Beside SAE-latent steering it answers
"do the latents add anything over the raw direction they were found from?" — the comparison AxBench makes.
"""

from __future__ import annotations

import torch

from saif_ui.engine import Engine
from saif_ui.saif.discovery.discover import DiscoveryConfig, make_pairs, resolve_instruction
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.steering.spec import SteeringSpec, SteerVector


def mean_difference_spec(
    engine: Engine,
    instruction: Instruction | str,
    layer: int,
    cfg: DiscoveryConfig | None = None,
    *,
    alpha: float = 1.0,
    positions: str = "all",
) -> SteeringSpec:
    """Spec whose one raw vector is mean(positive) - mean(negative) of block `layer`'s output at the last prompt token,
    over discovery-split pairs built exactly as discovery builds them. α = 1 adds the whole mean difference."""
    cfg = cfg or DiscoveryConfig()
    instr = resolve_instruction(instruction)
    pairs = make_pairs(engine, instr, cfg)
    texts = [p.positive.text for p in pairs] + list(dict.fromkeys(p.negative.text for p in pairs))
    encs = engine.encode(texts, layers=[layer], saes=[], batch_size=2 * cfg.batch_pairs)
    last = torch.stack([e.residuals[layer][-1] for e in encs])
    n_pos = len(pairs)
    diff = last[:n_pos].mean(0) - last[n_pos:].mean(0)
    return SteeringSpec(
        vectors=(SteerVector(layer=layer, vector=tuple(diff.tolist()), label=f"mean-diff {instr.id} L{layer}"),),
        alpha=alpha,
        positions=positions,  # type: ignore[arg-type]
        meta={"instruction": instr.id, "baseline": "mean_difference", "placement": cfg.placement, "n_pairs": n_pos},
    )
