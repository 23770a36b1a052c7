"""One instruction at two (or more) SAEs side by side: each SAE's discovery and the content steered by its top latents,
beside the original and prompted answers, all from one batched generate.

The app's layer comparison calls this; so can a script or the command line:

    >>> found = [discover(engine, "french", sae, top_k=10) for sae in ("L15_fast_topk64", "L24_fast_topk64")]
    >>> compare_layers(engine, "french", "The cat sat on the mat.", found).sides[1].steered.text
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.watch import Watch
from saif_ui.saif.discovery.discover import DiscoveryResult, resolve_instruction
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.inputs.prompts import Placement
from saif_ui.saif.steering.compare import Mode, Output, run_jobs
from saif_ui.saif.steering.spec import SteeringSpec, spec_from_discovery

TOP_LATENTS = 5
"""Latents each side steers with: the discovery's top five (fewer when it listed fewer)."""
ALPHA = 1.0
"""Each latent added at its mean activation under the instruction: what the instruction itself puts there."""


@dataclass(frozen=True)
class LayerSide:
    """One SAE of a layer comparison: its discovery (rows only), the top-5 spec and the answer it steers."""

    sae: str
    layer: int
    discovery: DiscoveryResult
    spec: SteeringSpec
    steered: Output

    def to_dict(self) -> dict[str, Any]:
        return {
            "sae": self.sae,
            "layer": self.layer,
            "discovery": self.discovery.to_dict(),
            "spec": self.spec.to_dict(),
            "steered": self.steered.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerSide:
        return cls(
            sae=str(data["sae"]),
            layer=int(data["layer"]),
            discovery=DiscoveryResult.from_dict(data["discovery"]),
            spec=SteeringSpec.from_dict(data["spec"]),
            steered=Output.from_dict(data["steered"]),
        )


@dataclass(frozen=True)
class LayerComparison:
    """The same instruction and content at two SAEs (`compare_layers`)."""

    instruction: str
    checker: str | None
    sides: list[LayerSide]
    original: Output
    prompted: Output

    def to_dict(self) -> dict[str, Any]:
        return {
            "instruction": self.instruction,
            "checker": self.checker,
            "sides": [side.to_dict() for side in self.sides],
            "original": self.original.to_dict(),
            "prompted": self.prompted.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerComparison:
        return cls(
            instruction=str(data["instruction"]),
            checker=data["checker"],
            sides=[LayerSide.from_dict(side) for side in data["sides"]],
            original=Output.from_dict(data["original"]),
            prompted=Output.from_dict(data["prompted"]),
        )


def layer_spec(discovery: DiscoveryResult) -> SteeringSpec:
    """The spec a side steers with: the discovery's top latents at α = 1. Give the result with its statistics (as
    `discover` returns it) so every latent's mean activation is exact."""
    return spec_from_discovery(discovery, k=min(TOP_LATENTS, discovery.config.top_k), alpha=ALPHA)


def compare_layers(
    engine: Engine,
    instruction: Instruction | str,
    content: str,
    discoveries: Sequence[DiscoveryResult],
    *,
    placement: Placement = "post",
    decoding: Decoding | None = None,
    system_prompt: bool | None = None,
    watch: Watch | None = None,
) -> LayerComparison:
    """The content answered unsteered, steered by each discovery's `layer_spec`, and prompted, each answer judged by
    the instruction's checker; the four (or more) answers are one batched generate.

    Args:
        discoveries: one result per SAE, for the same instruction, at different SAEs.
        watch: told the answers after each new token (original, each side's steered answer, prompted).
    """
    if len({d.sae for d in discoveries}) != len(discoveries) or len(discoveries) < 2:
        raise SaifError("pick two different SAEs to compare")
    instr = resolve_instruction(instruction)
    specs = [layer_spec(d) for d in discoveries]
    jobs: list[tuple[Mode, SteeringSpec]] = [("original", SteeringSpec()), *(("steered", s) for s in specs)]
    jobs.append(("prompted", SteeringSpec()))
    outputs, _ = run_jobs(
        engine,
        instr,
        [("content", content)],
        jobs,
        placement=placement,
        decoding=decoding or Decoding(),
        system_prompt=system_prompt,
        watch=watch,
    )
    return LayerComparison(
        instruction=instr.id,
        checker=instr.checker,
        sides=[
            LayerSide(d.sae, d.layer, replace(d, stats=None), spec, outputs[1 + i][0])
            for i, (d, spec) in enumerate(zip(discoveries, specs, strict=True))
        ],
        original=outputs[0][0],
        prompted=outputs[-1][0],
    )
