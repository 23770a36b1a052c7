"""Reading a trained vector through the SAE: which latents it is made of, and whether it moves the latents the
prompt moves.

Composition. For the `sae` basis the coefficients are the reading. For `free`, a sparse non-negative fit over every
latent's unit direction (Lasso with positive coefficients: non-negative because a latent's activation is; sparse so
that "made of" means a few latents) with its R². Then: the share of the squared coefficients carried by the top
5 / 10 / 20 latents (`share`), how much of the vector those alone rebuild (`explained`, 1 − |v − v_k|² / |v|²),
their labels, and their overlap with SAIF's top latents for the same instruction.

Effect (in the spirit of SAE-TS). On the training answers, teacher-forced: at every attached SAE's layer from the
steered one down, the mean change of each latent that the vector causes (steered − unsteered, content alone) against
the change that being told causes (prompted − unprompted); reported as their cosine and the overlap of their top-k
raised latents. A vector that follows the instruction "the way the prompt does" scores near 1 on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import Lasso

from saif_ui.engine import Engine, Steering
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import discover, resolve_instruction
from saif_ui.saif.distil.basis import unit_directions
from saif_ui.saif.distil.teacher import Example, teacher_examples
from saif_ui.saif.distil.train import Distilled, training_contents
from saif_ui.saif.interpret.labels import labels_of

TOPS: tuple[int, ...] = (5, 10, 20)
FIT_ALPHA = 3e-4
"""Lasso penalty, relative to the vector's mean square entry. Measured on a distilled French vector at L15 (norm 27):
1e-3 keeps 216 latents at R² 0.57, 3e-4 keeps 350 at R² 0.72, 3e-5 keeps 404 at R² 0.77 (the non-negative cone's
limit): 3e-4 is within 0.05 of that limit with the fewest latents."""
EFFECT_TOP = 20


@dataclass
class Reading:
    """A vector's composition in one SAE's latents."""

    sae: str
    latents: list[int]
    """By decreasing |coefficient| (at most the largest 20)."""
    coefficients: list[float]
    labels: list[str]
    nonzero: int
    fit_r2: float
    """How much of the vector the coefficients rebuild (1 for the `sae` basis, whose vector they are)."""
    share: dict[int, float]
    explained: dict[int, float]
    saif_overlap: dict[str, Any] = field(default_factory=dict)
    effect: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sae": self.sae,
            "latents": self.latents,
            "coefficients": [round(c, 4) for c in self.coefficients],
            "labels": self.labels,
            "nonzero": self.nonzero,
            "fit_r2": round(self.fit_r2, 4),
            "share": {str(k): round(v, 4) for k, v in self.share.items()},
            "explained": {str(k): round(v, 4) for k, v in self.explained.items()},
            "saif_overlap": self.saif_overlap,
            "effect": self.effect,
        }


def nonnegative_fit(directions: torch.Tensor, vector: torch.Tensor) -> np.ndarray:
    """Sparse non-negative coefficients c with c @ directions ≈ vector (Lasso, positive, deterministic)."""
    a = directions.double().numpy().T  # [d, n]
    b = vector.double().numpy()
    scale = float(np.mean(b**2)) or 1.0
    model = Lasso(alpha=FIT_ALPHA * scale, positive=True, fit_intercept=False, max_iter=20000, tol=1e-6)
    model.fit(a, b)
    return np.asarray(model.coef_, dtype=np.float64)


def composition(
    engine: Engine,
    sae: str,
    vector: torch.Tensor,
    latents: Sequence[int] | None = None,
    coefficients: Sequence[float] | None = None,
    labels: dict[int, str] | None = None,
) -> Reading:
    """The reading of `vector` in `sae`'s latents: the given (latents, coefficients) when the vector is their
    combination, else a sparse non-negative fit over every latent."""
    d_sae = engine.sae(sae).d_sae
    if latents is None or coefficients is None:
        dirs = unit_directions(engine, sae, range(d_sae))
        coef = nonnegative_fit(dirs, vector.float().cpu())
        ids = [int(i) for i in np.flatnonzero(coef)]
        values = [float(coef[i]) for i in ids]
    else:
        ids, values = list(latents), [float(c) for c in coefficients]
    order = sorted(range(len(ids)), key=lambda j: (-abs(values[j]), ids[j]))
    ids, values = [ids[j] for j in order], [values[j] for j in order]
    dirs = unit_directions(engine, sae, ids) if ids else torch.zeros(0, engine.d_model)
    c = torch.tensor(values, dtype=torch.float64)
    v = vector.double().cpu()
    total = float((v**2).sum()) or 1.0
    energy = float((c**2).sum()) or 1.0

    def rebuilt(k: int) -> torch.Tensor:
        return (c[:k, None] * dirs[:k].double()).sum(0) if k else torch.zeros_like(v)

    names = labels or {}
    return Reading(
        sae=sae,
        latents=ids[:20],
        coefficients=values[:20],
        labels=[names.get(i, "") for i in ids[:20]],
        nonzero=len(ids),
        fit_r2=1.0 - float(((v - rebuilt(len(ids))) ** 2).sum()) / total,
        share={k: float((c[:k] ** 2).sum()) / energy for k in TOPS},
        explained={k: 1.0 - float(((v - rebuilt(k)) ** 2).sum()) / total for k in TOPS},
    )


def overlap(mine: Sequence[int], saif: Sequence[int], k: int = 20) -> dict[str, Any]:
    """The latents among the reading's top `k` that SAIF's top `k` also ranks."""
    shared = sorted(set(mine[:k]) & set(saif[:k]))
    return {"k": k, "shared": shared, "fraction": round(len(shared) / k, 4)}


def effect(
    engine: Engine, examples: Sequence[Example], layer: int, vector: torch.Tensor, k: int = EFFECT_TOP
) -> list[dict[str, Any]]:
    """At each attached SAE reading `layer` or deeper: the mean latent change along the training answers that the
    vector causes (steered − unsteered, content alone) against the one the prompt causes (prompted − unprompted),
    as a cosine and the overlap of their top-`k` raised latents."""
    saes = [engine.sae(n) for n in engine.sae_names() if engine.sae(n).layer >= layer]
    if not saes:
        return []
    layers = sorted({s.layer for s in saes})
    push = [Steering(layer, vector.float(), "all")]
    sums = {s.name: torch.zeros(3, s.d_sae) for s in saes}  # prompted, unprompted, steered
    for ex in examples:
        n = ex.answer.shape[0]
        runs = [
            engine.hidden_states([ex.teacher], layers),
            engine.hidden_states([ex.student], layers),
            engine.hidden_states([ex.student], layers, steering=push),
        ]
        for s in saes:
            for row, store in enumerate(runs):
                resid = store[s.layer][0, -n - 1 : -1]  # one unpadded sequence: its last n + 1 positions
                with torch.no_grad():
                    sums[s.name][row] += s.encode(resid).float().sum(0).cpu()
    out = []
    for s in saes:
        told, plain, steered = sums[s.name]
        by_prompt, by_vector = told - plain, steered - plain
        cos = float(torch.nn.functional.cosine_similarity(by_prompt, by_vector, dim=0))
        top_p = torch.argsort(by_prompt, descending=True, stable=True)[:k].tolist()
        top_v = torch.argsort(by_vector, descending=True, stable=True)[:k].tolist()
        out.append(
            {
                "sae": s.name,
                "layer": s.layer,
                "cosine": round(cos, 4),
                "k": k,
                "top_overlap": round(len(set(top_p) & set(top_v)) / k, 4),
                "prompt_top": top_p,
                "vector_top": top_v,
            }
        )
    return out


def read_distilled(engine: Engine, d: Distilled, n_effect: int = 8) -> Reading | None:
    """The whole reading of a trained vector: its composition in the SAE of its layer (with labels), the overlap
    with SAIF's top 20 latents for its instruction, and the effect check on its first `n_effect` training
    contents. None when no attached SAE reads its layer."""
    if d.sae is None:
        return None
    instr = resolve_instruction(d.instruction)
    if d.config.basis == "sae":
        reading = composition(engine, d.sae, d.vector, d.latents, d.coefficients, labels_of(engine, d.sae))
    else:
        reading = composition(engine, d.sae, d.vector, labels=labels_of(engine, d.sae))
    found = discover(engine, instr, d.sae, DiscoveryConfig(top_k=20))
    reading.saif_overlap = overlap(reading.latents, found.ids)
    examples = teacher_examples(
        engine,
        instr,
        training_contents(min(n_effect, d.config.n_train)),
        answer_tokens=d.config.answer_tokens,
        top_k=1,
    )
    reading.effect = effect(engine, examples, d.layer, d.vector)
    return reading
