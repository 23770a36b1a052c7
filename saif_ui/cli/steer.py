"""CLI commands of SAIF steering: `steer` (one content, three modes), `evaluate` (α sweep on held-out contents),
`special-grid` (FAST's special-token intervention) and `findings` (regenerate docs/FINDINGS.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from saif_ui.cli.common import (
    Command,
    check_instruction,
    decoding_args,
    emit,
    engine_args,
    engine_from_args,
    floats,
    ints,
)

_POSITIONS = ("all", "prompt", "generated")
_SCALES = ("mean_act", "unit")


def _spec_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--instruction", metavar="ID", required=True, help="catalogue id, e.g. french, json")
    p.add_argument("--layer", type=int, help="layer of the attached SAE to steer with (default: the deepest)")
    p.add_argument("--top-k", type=int, default=5, help="steer with the top-k discovered latents")
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
    p.add_argument("--positions", choices=_POSITIONS, default="all", help="where the vector is added")
    p.add_argument("--scale", choices=_SCALES, default="mean_act", help="per-latent base vector (see SteeringSpec)")
    p.add_argument("--decay", type=float, default=0.0, help="token-wise decay ω: α_t = α / (1 + ω t)^k")
    p.add_argument("--decay-power", type=float, default=1.0, help="k of the decay")
    p.add_argument("--placement", choices=["post", "pre"], default="post", help="discovery and prompted placement")
    decoding_args(p)
    p.add_argument("--json", action="store_true", help="print JSON (includes every generated text)")


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
        top_k=args.top_k,
        latents=args.latents,
        strengths=dict(zip(args.latents or (), args.strengths or (), strict=False)),
        spec_file=args.spec,
        mean_diff=args.mean_diff,
        placement=args.placement,
        how=Application(positions=args.positions, scale=args.scale, decay=args.decay, decay_power=args.decay_power),
    )


def build_spec(engine: Any, args: argparse.Namespace, alpha: float) -> Any:
    from saif_ui.saif.steering.build import build_spec as build

    return build(engine, spec_choice(args), alpha)


def _decoding(args: argparse.Namespace) -> Any:
    from saif_ui.saif.steering.compare import Decoding

    return Decoding(
        max_new_tokens=args.max_new_tokens,
        do_sample=args.sample,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
    )


def _verdict(out: dict[str, Any]) -> str:
    if out.get("strict") is None:
        return "no checker"
    v = "follows" if out["strict"] else ("follows (loose)" if out["loose"] else "does not follow")
    ppl = f", perplexity {out['perplexity']:.1f}" if out.get("perplexity") else ""
    return f"{v}{ppl}, repetition {out['repetition']:.2f}"


# ---------------------------------------------------------------- steer


def _steer_args(p: argparse.ArgumentParser) -> None:
    _spec_args(p)
    p.add_argument("--content", required=True, help="the passage, given without the instruction")
    p.add_argument("--alpha", type=float, default=1.0, help="global strength (1: the latents' mean presence)")
    p.add_argument("--prompted-steered", action="store_true", help="also steer the prompted answer")


def cmd_steer(args: argparse.Namespace) -> int:
    from saif_ui.saif.steering.compare import compare

    check_instruction(args.instruction)
    decoding = _decoding(args)
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
    lines = [f"{args.instruction}: α {spec.alpha} × latents {latents} ({spec.scale}, positions {spec.positions})"]
    for mode in ("original", "steered", "prompted", "prompted_steered"):
        if mode in result:
            lines += ["", f"--- {mode}: {_verdict(result[mode])}", result[mode]["text"]]
    emit(args, result, "\n".join(lines))
    return 0


# ---------------------------------------------------------------- evaluate


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    _spec_args(p)
    p.add_argument("--contents", type=Path, help='JSONL of {"id", "text"} (default: the held-out split)')
    p.add_argument("--n-contents", type=int, default=24, help="held-out contents used (0: all)")
    p.add_argument("--alphas", type=floats, help="comma-separated α sweep (default: suits the spec's scale)")
    p.add_argument("--prompted-steered", action="store_true", help="also run prompted + steered at each α")
    p.add_argument("--checker", help="judge with this checker instead of the instruction's (e.g. json_start)")
    p.add_argument("--out", type=Path, help="also write the JSON result to this file")
    p.set_defaults(max_new_tokens=48)


def format_evaluation(d: dict[str, Any]) -> str:
    def row(name: str, r: dict[str, Any]) -> str:
        ppl = r["fluency"]["perplexity"]
        return (
            f"{name:>10} {r['strict']:>7.0%} {r['loose']:>7.0%} {r['fluent_strict']:>8.0%} "
            f"{(f'{ppl:.1f}' if ppl else '-'):>10} {r['fluency']['repetition']:>6.2f}"
        )

    n = d["baselines"]["original"]["n"]
    head = f"{d['instruction']} ({d['checker']}) @ layer {d['layer']}: {n} contents, best α {d['best_alpha']}"
    cols = f"{'':>10} {'strict':>7} {'loose':>7} {'fluent':>8} {'perplexity':>10} {'repet.':>6}"
    lines = [head, cols]
    lines += [row(name, r) for name, r in d["baselines"].items()]
    lines += [row(f"α={r['alpha']:g}", r) for r in d["results"]]
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from saif_ui.saif.inputs.contents import load_user_contents
    from saif_ui.saif.steering.evaluate import EvalConfig, evaluate

    check_instruction(args.instruction)
    contents = load_user_contents(args.contents) if args.contents else None
    cfg = EvalConfig(
        alphas=args.alphas,
        n_contents=args.n_contents or None,
        placement=args.placement,
        decoding=_decoding(args),
        prompted_steered=args.prompted_steered,
        checker=args.checker,
    )
    engine = engine_from_args(args, warmup=False)
    spec = build_spec(engine, args, 1.0)
    data = evaluate(engine, args.instruction, spec, contents, cfg).to_dict()
    if args.out:
        args.out.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    emit(args, data, format_evaluation(data))
    return 0


# ---------------------------------------------------------------- special-token grid


def _grid_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--layer", type=int, help="layer of the attached SAE (default: the deepest)")
    p.add_argument("--latent", type=int, help="latent id (default: the strongest special-token latent)")
    p.add_argument("--content", required=True, help="the passage to answer")
    p.add_argument("--alphas", type=floats, help="comma-separated α (default: FAST's 0,15,25,50,100,150,200)")
    p.add_argument("--positions", choices=_POSITIONS, default="all")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--instruction", metavar="ID", help="also judge each output against this instruction")
    p.add_argument("--json", action="store_true", help="print JSON")


def cmd_special_grid(args: argparse.Namespace) -> int:
    from saif_ui.saif.steering.compare import Decoding
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
    "evaluate": ("steering accuracy and fluency over an α sweep, with both baselines", _evaluate_args, cmd_evaluate),
    "special-grid": ("steer with a special-token latent over FAST's α grid", _grid_args, cmd_special_grid),
}
