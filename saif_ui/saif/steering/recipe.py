"""An instruction's validated steering recipe: the spec chosen on validation contents, shipped in assets/recipes.json.

A recipe is what `steer`, `evaluate --auto`, the Steering tab and the findings use by default for an instruction. It
carries the whole `SteeringSpec` (layer, latents with their mean activations, α, positions, decay, scale), how it was
chosen (method, k, the validation rate with its interval, the fidelity threshold) and where it came from (commit,
contents and catalogue versions, checker version, command). It never holds a test figure: test results live in the
studies under docs/studies/.

A recipe may also carry an `adopted` method: a steering trained by distillation (`saif.distil`) that beat the SAIF
spec on the same validation contents (`python -m saif_ui adopt-distilled`). Then `steering` (what `steer`,
`evaluate --auto` and the Steering tab apply) is the adopted spec, while `spec` stays SAIF's top-k, shown beside it
and measured by the studies; a study's key names the SAIF part only (`to_dict(adopted=False)`), so adopting never
makes the studies that measure SAIF's spec stale.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saif_ui.engine.errors import SaifError
from saif_ui.resources import asset, output_dir
from saif_ui.saif.steering.spec import SpecError, SteeringSpec

RECIPES_PATH = asset("recipes.json")
RECIPES_VERSION = 1


class RecipeError(SaifError):
    """A recipes file or entry that cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Adopted:
    """A trained steering that won over the SAIF spec on validation, and how it was chosen."""

    method: str
    """`distil_free`, `distil_sae` or `distil_ce` (`saif.studies.distil_study.METHODS`)."""
    spec: SteeringSpec
    """At the α chosen on validation."""
    validation: dict[str, Any] = field(default_factory=dict)
    """Every method's figures on the validation contents it was chosen on, and the rule."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """The distillation study result it comes from (key digest, vector folder), the command and commit."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "spec": self.spec.to_dict(),
            "validation": self.validation,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Adopted:
        return cls(
            method=str(data["method"]),
            spec=SteeringSpec.from_dict(data["spec"]),
            validation=dict(data.get("validation") or {}),
            provenance=dict(data.get("provenance") or {}),
        )


@dataclass(frozen=True)
class Recipe:
    """The steering recipe of one instruction."""

    instruction: str
    method: str
    """How the latents were chosen: `saif_topk` (input contrast, SAIF)."""
    spec: SteeringSpec
    k: int
    fidelity_threshold: float
    """chrF to the content an answer needs to be faithful (a quantile of mismatched scores on validation)."""
    validation: dict[str, Any] = field(default_factory=dict)
    """The chosen recipe's validation figures: n, success count and rate, 95 % interval, and the candidates tried."""
    provenance: dict[str, Any] = field(default_factory=dict)
    adopted: Adopted | None = None
    """A distilled steering chosen over `spec` on validation, if one won (see the module docstring)."""

    @property
    def steering(self) -> SteeringSpec:
        """The spec this recipe applies: the adopted method's, else SAIF's."""
        return self.adopted.spec if self.adopted is not None else self.spec

    @property
    def steering_method(self) -> str:
        return self.adopted.method if self.adopted is not None else self.method

    @property
    def layer(self) -> int:
        layers = sorted({e.layer for e in self.spec.latents} | {v.layer for v in self.spec.vectors})
        if not layers:
            raise RecipeError(f"recipe for {self.instruction!r} steers nothing")
        return layers[0]

    @property
    def latents(self) -> list[int]:
        return [e.latent for e in self.spec.latents]

    def summary(self) -> dict[str, Any]:
        """The recipe's settings in one flat object (what `evaluate --auto --json` prints as `recipe`): those of the
        spec it applies; with an adopted method, SAIF's own settings under `saif` and how the choice was made under
        `adopted`."""
        out = {
            "instruction": self.instruction,
            "method": self.steering_method,
            **_settings(self.steering),
            "k": self.k if self.adopted is None else len(self.adopted.spec.latents),
            "fidelity_threshold": self.fidelity_threshold,
            "validation": {k: v for k, v in self.validation.items() if k != "candidates"},
            "provenance": self.provenance,
        }
        if self.adopted is not None:
            out["saif"] = {"method": self.method, **_settings(self.spec), "k": self.k}
            out["adopted"] = {k: v for k, v in self.adopted.to_dict().items() if k != "spec"}
        return out

    def to_dict(self, adopted: bool = True) -> dict[str, Any]:
        """The recipe as stored; `adopted=False` leaves the adopted method out (what the studies' keys digest)."""
        out = {
            "instruction": self.instruction,
            "method": self.method,
            "k": self.k,
            "fidelity_threshold": self.fidelity_threshold,
            "spec": self.spec.to_dict(),
            "validation": self.validation,
            "provenance": self.provenance,
        }
        if adopted and self.adopted is not None:
            out["adopted"] = self.adopted.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        if not isinstance(data, dict):
            raise RecipeError("a recipe is a JSON object")
        try:
            return cls(
                instruction=str(data["instruction"]),
                method=str(data["method"]),
                spec=SteeringSpec.from_dict(data["spec"]),
                k=int(data["k"]),
                fidelity_threshold=float(data["fidelity_threshold"]),
                validation=dict(data.get("validation") or {}),
                provenance=dict(data.get("provenance") or {}),
                adopted=Adopted.from_dict(data["adopted"]) if data.get("adopted") else None,
            )
        except (KeyError, TypeError, ValueError, SpecError) as err:
            raise RecipeError(f"malformed recipe: {err}") from None


def _settings(spec: SteeringSpec) -> dict[str, Any]:
    layers = sorted({e.layer for e in spec.latents} | {v.layer for v in spec.vectors})
    return {
        "sae": spec.latents[0].sae if spec.latents else None,
        "layer": layers[0] if layers else None,
        "latents": [e.latent for e in spec.latents],
        "vectors": len(spec.vectors),
        "alpha": spec.alpha,
        "scale": spec.scale,
        "positions": spec.positions,
        "decay": spec.decay,
    }


def load_recipes(path: str | Path | None = None) -> dict[str, Recipe]:
    """Every shipped recipe by instruction id (an absent file: none)."""
    source = Path(path) if path is not None else RECIPES_PATH
    if not source.exists():
        return {}
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RecipeError(f"{source}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("version") != RECIPES_VERSION:
        raise RecipeError(f"{source}: expected a recipes file of version {RECIPES_VERSION}")
    return {iid: Recipe.from_dict(entry) for iid, entry in dict(data.get("recipes") or {}).items()}


def recipe_for(instruction: str, path: str | Path | None = None) -> Recipe | None:
    """The shipped recipe of `instruction`, or None when it has none."""
    return load_recipes(path).get(instruction)


def require_recipe(instruction: str, path: str | Path | None = None) -> Recipe:
    """Like `recipe_for`, but a missing recipe is an error naming the instructions that have one."""
    recipes = load_recipes(path)
    if instruction not in recipes:
        have = ", ".join(sorted(recipes)) or "none"
        raise RecipeError(
            f"instruction {instruction!r} has no validated recipe (instructions with one: {have}); "
            "run `python -m saif_ui choose-recipe --instruction ID` to make one"
        )
    return recipes[instruction]


def save_recipe(recipe: Recipe, path: str | Path | None = None) -> Path:
    """Add or replace one instruction's recipe, keeping the others; the file is replaced atomically. Without `path`,
    the checkout's assets/recipes.json (`resources.output_dir`; an installed package is never written into)."""
    target = Path(path) if path is not None else output_dir("assets") / "recipes.json"
    recipes = load_recipes(target)
    recipes[recipe.instruction] = recipe
    data = {
        "version": RECIPES_VERSION,
        "about": (
            "Steering recipes chosen per instruction on validation contents only (python -m saif_ui choose-recipe); "
            "test figures are in docs/studies/."
        ),
        "recipes": {iid: recipes[iid].to_dict() for iid in sorted(recipes)},
    }
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".recipes-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, target)
    return target
