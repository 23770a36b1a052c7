"""Latents chosen by their effect on the output (GradSAE-style), beside SAIF's input contrast.

SAIF ranks latents by how differently they fire with and without the instruction: an input-side choice. An
output-side choice asks instead which latent, added as steering adds it, makes the model's own instructed answer
likelier when the instruction is absent. For each discovery content, the prompt *without* the instruction is
followed by the model's greedy answer *with* it; the gradient g_t of that answer's negative log-likelihood with
respect to the layer's output gives, to first order, the change in NLL from adding latent j's steering vector
m_j·w_j at every position but 0 (w_j its write vector, m_j its mean activation under the instruction, from
discovery's statistics): Σ_t g_t·m_j·w_j. The score is minus its mean over contents: higher, the answer gets
likelier. This is GradSAE's gradient × activation (Shu et al. 2025) with the activation the instruction gives the
latent in place of the input's own (the latents to find are those the un-instructed input lacks), in the spirit of
choosing steering features by their output effect (Arad et al. 2025). One forward and backward per content scores
every latent of the SAE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import discover, pick_contents, resolve_instruction
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.inputs.prompts import build_prompt
from saif_ui.saif.steering.compare import run_modes
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent

ANSWER_DECODING = Decoding(max_new_tokens=48)
"""The instructed answers scored: greedy, as long as the studies' answers."""


@dataclass(frozen=True)
class OutputEffect:
    """Every latent's output-effect score for one instruction and SAE, and the top of the ranking."""

    instruction: str
    sae: str
    layer: int
    n_contents: int
    scores: torch.Tensor
    """[d_sae]: minus the first-order change in the answer's NLL (summed over its tokens), mean over contents."""
    mean_act: torch.Tensor
    """[d_sae]: discovery's mean activation under the instruction (0 for latents it never switches on)."""

    def top(self, k: int) -> list[int]:
        order = torch.argsort(self.scores, descending=True, stable=True)
        return [int(i) for i in order[:k] if float(self.scores[i]) > 0]

    def spec(self, k: int, alpha: float = 1.0) -> SteeringSpec:
        """The top-`k` latents as a spec (mean-activation scale, like SAIF's)."""
        chosen = self.top(k)
        if not chosen:
            raise SaifError(f"no latent of {self.sae} makes the instructed answer likelier for {self.instruction!r}")
        entries = tuple(SteerLatent(self.sae, self.layer, i, mean_act=float(self.mean_act[i])) for i in chosen)
        return SteeringSpec(latents=entries, alpha=alpha, meta={"instruction": self.instruction, "method": "output"})

    def summary(self, k: int) -> dict[str, Any]:
        return {
            "sae": self.sae,
            "layer": self.layer,
            "n_contents": self.n_contents,
            "top": [{"latent": i, "score": round(float(self.scores[i]), 4)} for i in self.top(k)],
        }


def output_effect(
    engine: Engine,
    instruction: str,
    sae_name: str,
    n_contents: int = 48,
    decoding: Decoding = ANSWER_DECODING,
) -> OutputEffect:
    """Score every latent of `sae_name` by its first-order effect on the instructed answer (module docstring), on
    the first `n_contents` discovery contents (the ones SAIF's discovery contrasts)."""
    instr = resolve_instruction(instruction)
    sae = engine.sae(sae_name)
    found = discover(engine, instr, sae_name, DiscoveryConfig(n_contents=n_contents))
    if found.stats is None:
        raise SaifError("output-effect scores need discovery's statistics of every latent")
    mean_act = found.stats.mean_pos.float().clamp(min=0)
    contents = pick_contents(load_contents("discovery"), n_contents)
    answers, _ = run_modes(
        engine, instr, [(c.id, c.text) for c in contents], SteeringSpec(), ["prompted"], decoding=decoding
    )
    writes = sae.write_vectors().cpu()
    total = torch.zeros(sae.d_sae, dtype=torch.float64)
    used = 0
    for content, answer in zip(contents, answers["prompted"], strict=True):
        prompt = engine.chat.tokenize(build_prompt(engine.chat, content.text, None, "none").text)
        reply = engine.chat.tokenize(answer.text)
        if not reply:
            continue
        ids = torch.tensor(prompt + reply)
        targets = torch.zeros(len(ids), dtype=torch.bool)
        targets[len(prompt) :] = True
        grad = engine.target_gradient(ids, targets, sae.layer)
        total -= (writes @ grad.sum(0)).double()  # first-order NLL change per unit of each latent's write vector
        used += 1
    if not used:
        raise SaifError(f"the model gave no answer to score for {instr.id!r}")
    return OutputEffect(
        instruction=instr.id,
        sae=sae_name,
        layer=sae.layer,
        n_contents=used,
        scores=(total / used).float() * mean_act,
        mean_act=mean_act,
    )
