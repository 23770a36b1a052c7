"""The steering flags `steer` and `evaluate` share (which instructions, which latents or recipe, how the vector is
applied, decoding) and their decoding into the library's `SpecChoice`, the one place they are read.

The recipe is the default: an instruction's validated recipe is used when it has one and no latents, layer, top-k,
spec or mean-diff are given. `--instruction` given twice (or three times) steers several instructions at once
(`steering.joint`): each instruction's own spec (its recipe, else its top-k latents), a weight per instruction."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from saif_ui.cli.common import check_instruction, decoding_args, engine_args, floats, ints

POSITIONS = ("all", "prompt", "generated")
SCALES = ("mean_act", "unit")
METHODS = ("add", "orthogonal", "cap", "clamp")
"""`SteeringSpec.METHODS`, typed here so that `--help` does not load torch (a test keeps them equal)."""


def spec_args(p: argparse.ArgumentParser) -> None:
    """The engine, spec and decoding flags of a command that steers."""
    engine_args(p)
    p.add_argument(
        "--instruction",
        metavar="ID",
        action="append",
        dest="instructions",
        required=True,
        help="catalogue id, e.g. french, json; give it twice to steer two instructions at once",
    )
    p.add_argument("--layer", type=int, help="layer of the attached SAE to steer with (default: the deepest)")
    p.add_argument("--top-k", type=int, help="steer with the top-k discovered latents (default 5)")
    p.add_argument("--latents", type=ints, help="hand-picked latent ids instead of the top-k, e.g. 2969,871")
    p.add_argument(
        "--strengths", type=floats, help="one strength per --latents id, in the same order (default: 1 each)"
    )
    p.add_argument("--spec", type=Path, help="a saved steering spec (JSON) instead of discovery; --alpha overrides α")
    p.add_argument(
        "--mean-diff",
        action="store_true",
        help="steer with the raw mean difference of residuals with/without the instruction (no SAE; a baseline)",
    )
    p.add_argument(
        "--no-recipe", action="store_true", help="ignore the instruction's validated recipe (discover the top-k)"
    )
    p.add_argument("--positions", choices=POSITIONS, default="all", help="where the vector is added")
    p.add_argument("--scale", choices=SCALES, default="mean_act", help="per-latent base vector (see SteeringSpec)")
    p.add_argument(
        "--method",
        choices=METHODS,
        default="add",
        help="add the vector (SAIF), or act on the residual's component along each latent: orthogonal (× α·strength), "
        "cap (at α·strength × its base), clamp (the SAE latent set to α·strength × its base, the SAE's error kept)",
    )
    p.add_argument("--decay", type=float, default=0.0, help="token-wise decay ω: α_t = α / (1 + ω t)^k")
    p.add_argument("--decay-power", type=float, default=1.0, help="k of the decay")
    p.add_argument("--placement", choices=["post", "pre"], default="post", help="discovery and prompted placement")
    decoding_args(p)
    p.add_argument("--json", action="store_true", help="print JSON (includes every generated text)")


def instructions_of(args: argparse.Namespace) -> list[str]:
    """The instructions asked for, checked before the model loads; `args.instruction` is the first."""
    ids = list(args.instructions)
    for iid in ids:
        check_instruction(iid)
    if len(set(ids)) != len(ids):
        raise ValueError(f"each --instruction once: {', '.join(ids)}")
    args.instruction = ids[0]
    if len(ids) == 1 and getattr(args, "weights", None) is not None:
        raise ValueError("--weights give one weight per instruction of a joint steer: give two --instruction")
    if len(ids) > 1:
        one_only = [flag for flag, value in (("--latents", args.latents), ("--strengths", args.strengths),
                    ("--spec", args.spec), ("--mean-diff", args.mean_diff)) if value]  # fmt: skip
        if one_only:
            raise ValueError(f"{', '.join(one_only)} choose one instruction's steering: give a single --instruction")
    return ids


def joint_spec(engine: Any, args: argparse.Namespace, ids: list[str]) -> Any:
    """The joint spec of several instructions: each its recipe (unless --no-recipe, --layer or --top-k say
    otherwise) or its top-k latents, weighted by --weights."""
    from saif_ui.saif.steering.build import build_joint

    choices = [spec_choice(argparse.Namespace(**{**vars(args), "instruction": iid})) for iid in ids]
    return build_joint(engine, choices, args.weights)


def spec_choice(args: argparse.Namespace) -> Any:
    """The library's `SpecChoice` from the arguments (the one place they are decoded)."""
    from saif_ui.saif.steering.build import Application, SpecChoice

    if args.strengths is not None and len(args.strengths) != len(args.latents or ()):
        raise ValueError(
            f"--strengths gives {len(args.strengths)} values for {len(args.latents or ())} --latents: give one each"
        )
    return SpecChoice(
        instruction=args.instruction,
        layer=args.layer,
        top_k=args.top_k or 5,
        latents=args.latents,
        strengths=dict(zip(args.latents or (), args.strengths or (), strict=False)),
        spec_file=args.spec,
        mean_diff=args.mean_diff,
        placement=args.placement,
        how=Application(
            positions=args.positions,
            scale=args.scale,
            decay=args.decay,
            decay_power=args.decay_power,
            method=args.method,
        ),
        recipe=_uses_recipe(args),
    )


def _uses_recipe(args: argparse.Namespace) -> bool:
    """The recipe is the default: taken when the instruction has one and nothing else was asked for."""
    from saif_ui.saif.steering.recipe import recipe_for

    if getattr(args, "auto", False):
        return True
    if getattr(args, "no_recipe", False) or getattr(args, "sweep", False):
        return False
    chosen = (args.layer, args.top_k, args.latents, args.spec, args.mean_diff or None)
    return all(x is None for x in chosen) and recipe_for(args.instruction) is not None


def build_spec(engine: Any, args: argparse.Namespace, alpha: float | None) -> Any:
    from saif_ui.saif.steering.build import build_spec as build

    return build(engine, spec_choice(args), alpha)
