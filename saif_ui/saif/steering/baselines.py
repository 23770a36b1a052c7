"""Steering baselines and controls, each built to be compared with an SAE-latent spec on the same contents.

- `mean_difference_spec`: the mean difference of residuals with and without the instruction, the classic contrastive
  activation-addition vector (ActAdd / CAA; Stolfo et al. 2024 for instructions). It answers "do the latents add
  anything over the raw direction they were found from?" — the comparison AxBench makes.
- `random_latents_spec`: k other latents of the same SAE, scaled so the vector added has the spec's norm. It answers
  "is it *these* latents, or any k latents pushed this hard?".
- `random_direction_spec`: a Gaussian direction of the same norm: "is it any push of this size?".
- `norm_matched`: a spec rescaled to another's norm, so top-1 and top-k compare at the same strength.
Random controls are seeded, so a study reruns identically.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from saif_ui.engine import Engine
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import make_pairs, resolve_instruction
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.steering.spec import SpecError, SteeringSpec, SteerLatent, SteerVector


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


def norm_matched(spec: SteeringSpec, engine: Engine, target: float) -> SteeringSpec:
    """`spec` with α rescaled so that everything it adds has L2 norm `target`."""
    norm = spec.norm(engine)
    if norm <= 0:
        raise SpecError("cannot norm-match a spec that adds nothing")
    return replace(spec, alpha=spec.alpha * target / norm)


def random_latents_spec(spec: SteeringSpec, engine: Engine, seed: int = 0) -> SteeringSpec:
    """As many latents as `spec` has, drawn at random (seeded) from the same SAE(s) among those it does not use, each
    at its unit decoder direction, with α set so the added vector has `spec`'s norm."""
    if not spec.latents:
        raise SpecError("a random-latent control needs a spec with latents")
    gen = torch.Generator().manual_seed(seed)
    chosen: list[SteerLatent] = []
    by_sae: dict[str, list[SteerLatent]] = {}
    for e in spec.latents:
        by_sae.setdefault(e.sae, []).append(e)
    for name, entries in by_sae.items():
        sae = engine.sae(name)
        used = {e.latent for e in entries}
        pool = torch.tensor([i for i in range(sae.d_sae) if i not in used])
        picks = pool[torch.randperm(len(pool), generator=gen)[: len(entries)]].tolist()
        chosen += [SteerLatent(sae=name, layer=sae.layer, latent=int(i)) for i in sorted(picks)]
    control = SteeringSpec(
        latents=tuple(chosen),
        alpha=1.0,
        scale="unit",
        positions=spec.positions,
        decay=spec.decay,
        decay_power=spec.decay_power,
        meta={**spec.meta, "control": "random_latents", "seed": seed},
    )
    return norm_matched(control, engine, spec.norm(engine))


def random_direction_spec(spec: SteeringSpec, engine: Engine, seed: int = 0) -> SteeringSpec:
    """One Gaussian direction (seeded) per layer `spec` steers, each with the norm `spec` adds at that layer."""
    gen = torch.Generator().manual_seed(seed)
    vectors = []
    for layer, vec in spec.layer_vectors(engine).items():
        direction = torch.randn(engine.d_model, generator=gen, dtype=torch.float64)
        scaled = direction / direction.norm() * float(vec.double().norm())
        vectors.append(SteerVector(layer=layer, vector=tuple(scaled.tolist()), label=f"random direction L{layer}"))
    if not vectors:
        raise SpecError("a random-direction control needs a spec that adds something")
    return SteeringSpec(
        vectors=tuple(vectors),
        alpha=1.0,
        positions=spec.positions,
        decay=spec.decay,
        decay_power=spec.decay_power,
        meta={**spec.meta, "control": "random_direction", "seed": seed},
    )
