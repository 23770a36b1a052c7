"""CLI commands `steer` (one content answered original / steered / prompted, each with its verdict; several
instructions at once with `--instruction` given twice) and `special-grid` (FAST's special-token intervention). The
steering flags are `cli.spec`'s."""

from __future__ import annotations

import argparse
from typing import Any

from saif_ui.cli.common import (
    Command,
    check_instruction,
    decoding_from_args,
    emit,
    engine_args,
    engine_from_args,
    floats,
)
from saif_ui.cli.spec import POSITIONS, build_spec, instructions_of, joint_spec, spec_args, spec_choice


def _verdict(out: dict[str, Any]) -> str:
    if out.get("strict") is None:
        return "no checker"
    v = "follows" if out["strict"] else ("follows (loose)" if out["loose"] else "does not follow")
    ppl = f", perplexity {out['perplexity']:.1f}" if out.get("perplexity") else ""
    return f"{v}{ppl}, repetition {out['repetition']:.2f}"


# ---------------------------------------------------------------- steer


def _steer_args(p: argparse.ArgumentParser) -> None:
    spec_args(p)
    p.add_argument("--content", required=True, help="the passage, given without the instruction")
    p.add_argument(
        "--alpha", type=float, help="global strength (default: the recipe's α, else 1: the latents' mean presence)"
    )
    p.add_argument("--prompted-steered", action="store_true", help="also steer the prompted answer")
    p.add_argument("--weights", type=floats, help="with several --instruction: one weight each (default 1 each)")


def cmd_steer(args: argparse.Namespace) -> int:
    from saif_ui.saif.steering.compare import compare

    ids = instructions_of(args)
    if len(ids) > 1:
        return _steer_joint(args, ids)
    decoding = decoding_from_args(args)
    engine = engine_from_args(args, warmup=False)
    spec = build_spec(engine, args, args.alpha)
    result = compare(
        engine,
        args.instruction,
        args.content,
        spec,
        placement=args.placement,
        prompted_steered=args.prompted_steered,
        decoding=decoding,
    ).to_dict()
    latents = ", ".join([f"{e.latent}@L{e.layer}" for e in spec.latents] + [v.label for v in spec.vectors]) or "none"
    source = "validated recipe" if spec_choice(args).recipe else "chosen"
    lines = [
        f"{args.instruction} ({source}): α {spec.alpha} × latents {latents} ({spec.scale}, positions {spec.positions})"
    ]
    for mode in ("original", "steered", "prompted", "prompted_steered"):
        if mode in result:
            lines += ["", f"--- {mode}: {_verdict(result[mode])}", result[mode]["text"]]
    emit(args, result, "\n".join(lines))
    return 0


def _steer_joint(args: argparse.Namespace, ids: list[str]) -> int:
    from saif_ui.saif.steering.joint_eval import compare_joint

    if args.alpha is not None or args.prompted_steered:
        raise ValueError("a joint steer takes --weights (one per instruction), not --alpha or --prompted-steered")
    decoding = decoding_from_args(args)
    engine = engine_from_args(args, warmup=False)
    joint = joint_spec(engine, args, ids)
    result = compare_joint(engine, joint, args.content, placement=args.placement, decoding=decoding).to_dict()
    parts = [
        f"{p.instruction} × {p.weight:g} (α {p.spec.alpha:g}, latents "
        + (", ".join(f"{e.latent}@L{e.layer}" for e in p.spec.latents) or "none") + ")"
        for p in joint.parts
    ]  # fmt: skip
    lines = ["joint: " + " + ".join(parts), f"prompted with: {result['wording']}"]
    for mode in ("original", "steered", "prompted"):
        out = result[mode]
        verdicts = ", ".join(f"{iid} {'✓' if ok else '✗'}" for iid, ok in out["verdicts"].items())
        both = "follows both" if out["strict"] else "does not follow both"
        lines += ["", f"--- {mode}: {both} ({verdicts}), repetition {out['repetition']:.2f}", out["text"]]
    emit(args, result, "\n".join(lines))
    return 0


# ---------------------------------------------------------------- special-token grid


def _grid_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--layer", type=int, help="layer of the attached SAE (default: the deepest)")
    p.add_argument("--latent", type=int, help="latent id (default: the strongest special-token latent)")
    p.add_argument("--content", required=True, help="the passage to answer")
    p.add_argument("--alphas", type=floats, help="comma-separated α (default: FAST's 0,15,25,50,100,150,200)")
    p.add_argument("--positions", choices=POSITIONS, default="all")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--instruction", metavar="ID", help="also judge each output against this instruction")
    p.add_argument("--json", action="store_true", help="print JSON")


def cmd_special_grid(args: argparse.Namespace) -> int:
    from saif_ui.engine.decoding import Decoding
    from saif_ui.saif.steering.special import PAPER_ALPHAS, special_token_grid

    if args.instruction:
        check_instruction(args.instruction)
    engine = engine_from_args(args, warmup=False)
    data = special_token_grid(
        engine,
        engine.sae_at_layer(args.layer),
        args.content,
        args.latent,
        args.alphas or PAPER_ALPHAS,
        positions=args.positions,
        decoding=Decoding(max_new_tokens=args.max_new_tokens),
        instruction=args.instruction,
    ).to_dict()
    token = f" (fires on {data['token']!r})" if data["token"] else ""
    lines = [f"latent {data['latent']} of {data['sae']}{token}"]
    lines += [f"--- α={r['alpha']:g}\n{r['text']}" for r in data["rows"]]
    emit(args, data, "\n".join(lines))
    return 0


COMMANDS: dict[str, Command] = {
    "steer": ("answer a content original / steered / prompted, each with its verdict", _steer_args, cmd_steer),
    "special-grid": ("steer with a special-token latent over FAST's α grid", _grid_args, cmd_special_grid),
}
