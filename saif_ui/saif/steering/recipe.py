"""An instruction's validated steering recipe: the spec chosen on validation contents, shipped in assets/recipes.json.

A recipe is what `steer`, `evaluate --auto`, the Steering tab and the findings use by default for an instruction. It
carries the whole `SteeringSpec` (layer, latents with their mean activations, α, positions, decay, scale), how it was
chosen (method, k, the validation rate with its interval, the fidelity threshold) and where it came from (commit,
contents and catalogue versions, checker version, command). It never holds a test figure: test results live in the
studies under docs/studies/.
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
        """The recipe's settings in one flat object (what `evaluate --auto --json` prints as `recipe`)."""
        return {
            "instruction": self.instruction,
            "method": self.method,
            "sae": self.spec.latents[0].sae if self.spec.latents else None,
            "layer": self.layer,
            "latents": self.latents,
            "k": self.k,
            "alpha": self.spec.alpha,
            "scale": self.spec.scale,
            "positions": self.spec.positions,
            "decay": self.spec.decay,
            "fidelity_threshold": self.fidelity_threshold,
            "validation": {k: v for k, v in self.validation.items() if k != "candidates"},
            "provenance": self.provenance,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "instruction": self.instruction,
            "method": self.method,
            "k": self.k,
            "fidelity_threshold": self.fidelity_threshold,
            "spec": self.spec.to_dict(),
            "validation": self.validation,
            "provenance": self.provenance,
        }

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
            )
        except (KeyError, TypeError, ValueError, SpecError) as err:
            raise RecipeError(f"malformed recipe: {err}") from None


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
