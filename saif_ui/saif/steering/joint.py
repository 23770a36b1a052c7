"""Two instructions at once (SAIF's future work: instructions that combine objectives).

A `JointSpec` steers with the union of several instructions' specs, a weight per instruction: part i adds its own
spec at α_i × w_i, at its own layer(s), positions and decay (recipes differ in all three, so the parts stay separate
steerings instead of being merged into one spec). How its answers are judged (every instruction's checker, fidelity,
the weight grid) is `steering.joint_eval`.

The prompted baseline gives every instruction, in order, after the content ("Translate the text into French. Rewrite
the text as a question."); each instruction prompted alone is reported beside it, so a joint rate can be read against
what each part does by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.steering import Intervention
from saif_ui.saif.discovery.discover import resolve_instruction
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.steering.spec import MAX_ABS_STRENGTH, SpecError, SteeringSpec

MAX_PARTS = 3
"""Instructions one joint spec combines: the issue asks for two; three still reads as one answer's requirements."""
WEIGHTS: tuple[float, ...] = (0.0, 1.0, 2.0)
"""Each instruction's weight in the default grid: off, its recipe's own strength, twice it."""


@dataclass(frozen=True)
class JointPart:
    """One instruction's share: its spec (at the spec's own α) scaled by `weight`."""

    instruction: str
    spec: SteeringSpec
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.weight, int | float) and abs(self.weight) <= MAX_ABS_STRENGTH):
            raise SpecError(f"the weight of {self.instruction!r} must be a number within ±{MAX_ABS_STRENGTH:g}")

    @property
    def scaled(self) -> SteeringSpec:
        """The part's spec with its weight applied to α."""
        return self.spec.with_alpha(self.spec.alpha * self.weight)


@dataclass(frozen=True)
class JointSpec:
    """Several instructions' specs added together, a weight per instruction."""

    parts: tuple[JointPart, ...]

    def __post_init__(self) -> None:
        if not 2 <= len(self.parts) <= MAX_PARTS:
            raise SpecError(f"a joint spec combines 2 to {MAX_PARTS} instructions, not {len(self.parts)}")
        ids = [p.instruction for p in self.parts]
        if len(set(ids)) != len(ids):
            raise SpecError(f"each instruction appears once in a joint spec: {', '.join(ids)}")

    @property
    def instructions(self) -> tuple[str, ...]:
        return tuple(p.instruction for p in self.parts)

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(p.weight for p in self.parts)

    def with_weights(self, weights: Sequence[float]) -> JointSpec:
        if len(weights) != len(self.parts):
            raise SpecError(f"give one weight per instruction ({len(self.parts)}), not {len(weights)}")
        return JointSpec(tuple(replace(p, weight=float(w)) for p, w in zip(self.parts, weights, strict=True)))

    def steerings(self, engine: Engine) -> list[Intervention]:
        """Every part's steerings, weights applied (a part at weight 0 adds nothing)."""
        return [s for p in self.parts for s in p.scaled.steerings(engine)]

    def norms(self, engine: Engine) -> tuple[float, ...]:
        """The L2 norm each part adds, weights applied."""
        return tuple(p.scaled.norm(engine) for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "parts": [{"instruction": p.instruction, "weight": p.weight, "spec": p.spec.to_dict()} for p in self.parts]
        }

    @classmethod
    def from_dict(cls, data: Any) -> JointSpec:
        if not isinstance(data, dict) or not isinstance(data.get("parts"), list):
            raise SpecError("a joint spec is a JSON object with a list of 'parts'")
        if len(data["parts"]) > MAX_PARTS:
            raise SpecError(f"a joint spec combines 2 to {MAX_PARTS} instructions, not {len(data['parts'])}")
        parts = []
        for item in data["parts"]:
            if not isinstance(item, dict) or not {"instruction", "spec"} <= set(item):
                raise SpecError("each part of a joint spec has an 'instruction' and a 'spec'")
            weight = item.get("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise SpecError(f"the weight of part {item['instruction']!r} must be a number")
            parts.append(JointPart(str(item["instruction"]), SteeringSpec.from_dict(item["spec"]), float(weight)))
        return cls(tuple(parts))


def joint_wording(instructions: Sequence[Instruction | str]) -> str:
    """The prompted baseline's instruction: every instruction's canonical wording, in order."""
    return " ".join(resolve_instruction(i).canonical for i in instructions)
