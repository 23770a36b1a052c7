"""The two parametrisations of a distilled vector, and the candidate latents of the `sae` one.

`free`: any d_model vector. `sae`: Σ_j c_j · u_j over candidate latents j, u_j the unit direction latent j writes
(what a spec with scale `unit` adds per unit of strength, so the trained coefficients are the spec's strengths
exactly). Coefficients are signed: a negative one subtracts what a latent writes. Sparsity is L1 on the
coefficients, then top-`keep` by |c_j| (the directions are unit, so that is each latent's share of the sum before
cancellation) and a refit of the kept ones without L1: the L1 phase chooses, the refit sets the norm, so the penalty
does not also shrink the kept vector.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import discover
from saif_ui.saif.distil.teacher import Example
from saif_ui.saif.inputs.catalogue import Instruction


class FreeVector(nn.Module):
    """A d_model vector, starting at zero."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.zeros(d_model))

    def forward(self) -> torch.Tensor:
        return self.v

    def shrink(self, factor: float) -> None:
        with torch.no_grad():
            self.v.mul_(factor)

    def penalty(self) -> torch.Tensor:
        return self.v.new_zeros(())


class LatentCombination(nn.Module):
    """Σ_j coef_j · directions_j over chosen latents of one SAE, coefficients starting at zero."""

    directions: torch.Tensor

    def __init__(self, latents: Sequence[int], directions: torch.Tensor, coef: torch.Tensor | None = None) -> None:
        super().__init__()
        if directions.shape[0] != len(latents) or not latents:
            raise SaifError("a latent combination needs one direction per latent, and at least one latent")
        self.latents = list(latents)
        self.register_buffer("directions", directions.float())
        self.coef = nn.Parameter(coef.clone().float() if coef is not None else torch.zeros(len(latents)))

    def forward(self) -> torch.Tensor:
        return self.coef @ self.directions

    def shrink(self, factor: float) -> None:
        with torch.no_grad():
            self.coef.mul_(factor)

    def penalty(self) -> torch.Tensor:
        return self.coef.abs().sum()

    def pruned(self, keep: int) -> LatentCombination:
        """The `keep` latents with the largest |coefficient| (ties: the lower id), their coefficients kept."""
        order = sorted(range(len(self.latents)), key=lambda j: (-abs(float(self.coef[j].detach())), self.latents[j]))[
            :keep
        ]
        order.sort(key=lambda j: self.latents[j])
        return LatentCombination(
            [self.latents[j] for j in order], self.directions[order].clone(), self.coef.detach()[order]
        )

    def nonzero(self) -> int:
        return int((self.coef.detach().abs() > 1e-6).sum())


def unit_directions(engine: Engine, sae: str, latents: Sequence[int]) -> torch.Tensor:
    """[n, d_model]: the unit vector each latent writes (`SteeringSpec` scale `unit` adds strength × this)."""
    rows = engine.sae(sae).write_vectors()[list(latents)].cpu()
    return rows / rows.norm(dim=1, keepdim=True).clamp(min=1e-12)


def prompt_shift(engine: Engine, sae: str, examples: Sequence[Example]) -> torch.Tensor:
    """[d_sae] mean SAE activation along the answers when told the instruction minus when not (teacher-forced on
    the same answer tokens, every answer position weighted equally)."""
    loaded = engine.sae(sae)
    total = torch.zeros(loaded.d_sae)
    count = 0
    for ex in examples:
        n = ex.answer.shape[0]
        store = engine.hidden_states([ex.teacher, ex.student], [loaded.layer])[loaded.layer]
        told = store[0, ex.teacher.shape[0] - n - 1 : ex.teacher.shape[0] - 1]
        plain = store[1, ex.student.shape[0] - n - 1 : ex.student.shape[0] - 1]
        with torch.no_grad():
            total += (loaded.encode(told).float() - loaded.encode(plain).float()).sum(0).cpu()
        count += n
    return total / max(count, 1)


def candidate_latents(
    engine: Engine, instruction: Instruction, sae: str, examples: Sequence[Example], n: int, n_discovery: int = 48
) -> tuple[list[int], dict[str, list[int]]]:
    """Up to `n` candidates: SAIF's top-ranked half (input contrast on discovery contents), then the latents the
    instruction raises most along the answers (`prompt_shift`) until `n`. Returns them sorted, with each source's
    list (what the reading reports as overlap)."""
    found = discover(engine, instruction, sae, DiscoveryConfig(n_contents=n_discovery, top_k=max(n // 2, 1)))
    saif = found.ids[: n // 2]
    shift = prompt_shift(engine, sae, examples)
    raised = [int(i) for i in torch.argsort(shift, descending=True, stable=True).tolist() if shift[i] > 0]
    chosen = list(dict.fromkeys(saif))
    added = [i for i in raised if i not in chosen][: max(n - len(chosen), 0)]
    return sorted(chosen + added), {"saif": saif, "prompt_shift": added}
