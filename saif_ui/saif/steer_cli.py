"""CLI commands of SAIF steering: `steer` (one content, three modes), `evaluate` (α sweep on held-out contents),
`special-grid` (FAST's special-token intervention) and `findings` (regenerate docs/FINDINGS.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from saif_ui.cli import _engine_args, command, emit, engine_from_args

_POSITIONS = ("all", "prompt", "generated")
_SCALES = ("mean_act", "unit")


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated latent ids, got {text!r}") from None


def _spec_args(p: argparse.ArgumentParser) -> None:
    _engine_args(p)
    p.add_argument("--instruction", metavar="ID", required=True, help="catalogue id, e.g. french, json")
    p.add_argument("--layer", type=int, help="layer of the attached SAE to steer with (default: the deepest)")
    p.add_argument("--top-k", type=int, default=5, help="steer with the top-k discovered latents")
    p.add_argument("--latents", type=_ints, help="hand-picked latent ids instead of the top-k, e.g. 2969,871")
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
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--sample", action="store_true", help="sample (seeded) instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON (includes every generated text)")


def build_spec(engine: Any, args: argparse.Namespace, alpha: float) -> Any:
    """The steering spec the arguments describe: a saved spec file, or discovery at --layer (cached on disk)."""
    from saif_ui.saif.cli import sae_at_layer
    from saif_ui.saif.discovery import DiscoveryConfig, discover
    from saif_ui.saif.steer import SteeringSpec, spec_from_discovery

    if args.spec:
        try:
            text = args.spec.read_text(encoding="utf-8")
        except OSError as e:
            raise ValueError(f"cannot read spec {args.spec}: {e.strerror}") from None
        return SteeringSpec.from_json(text).with_alpha(alpha)
    if args.mean_diff:
        from saif_ui.saif.baselines import mean_difference_spec

        layer = args.layer if args.layer is not None else engine.sae(sae_at_layer(engine, None)).layer
        cfg = DiscoveryConfig(placement=args.placement)
        return mean_difference_spec(engine, args.instruction, layer, cfg, alpha=alpha, positions=args.positions)
    name = sae_at_layer(engine, args.layer)
    result = discover(engine, args.instruction, name, DiscoveryConfig(placement=args.placement))
    return spec_from_discovery(
        result,
        k=args.top_k,
        alpha=alpha,
        latents=args.latents,
        scale=args.scale,
        positions=args.positions,
        decay=args.decay,
        decay_power=args.decay_power,
    )


def _decoding(args: argparse.Namespace) -> Any:
    from saif_ui.saif.compare import Decoding

    return Decoding(
        max_new_tokens=args.max_new_tokens,
        do_sample=args.sample,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
    )


def _check_instruction(instruction: str) -> None:
    """Fail in a second on a typo, before the model loads."""
    from saif_ui.saif.catalogue import UnknownInstructionError
    from saif_ui.saif.discovery import resolve_instruction

    try:
        resolve_instruction(instruction)
    except UnknownInstructionError as e:
        raise ValueError(str(e)) from None


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


@command("steer", "answer a content original / steered / prompted, each with its verdict", _steer_args)
def cmd_steer(args: argparse.Namespace) -> int:
    from saif_ui.saif.compare import compare

    _check_instruction(args.instruction)
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
    p.add_argument("--alphas", type=_floats, help="comma-separated α sweep (default: suits the spec's scale)")
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


@command("evaluate", "steering accuracy and fluency over an α sweep, with both baselines", _evaluate_args)
def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from saif_ui.saif.contents import load_user_contents
    from saif_ui.saif.evaluate import EvalConfig, evaluate

    _check_instruction(args.instruction)
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
    _engine_args(p)
    p.add_argument("--layer", type=int, help="layer of the attached SAE (default: the deepest)")
    p.add_argument("--latent", type=int, help="latent id (default: the strongest special-token latent)")
    p.add_argument("--content", required=True, help="the passage to answer")
    p.add_argument("--alphas", type=_floats, help="comma-separated α (default: FAST's 0,15,25,50,100,150,200)")
    p.add_argument("--positions", choices=_POSITIONS, default="all")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--instruction", metavar="ID", help="also judge each output against this instruction")
    p.add_argument("--json", action="store_true", help="print JSON")


@command("special-grid", "steer with a special-token latent over FAST's α grid", _grid_args)
def cmd_special_grid(args: argparse.Namespace) -> int:
    from saif_ui.saif.cli import sae_at_layer
    from saif_ui.saif.compare import Decoding
    from saif_ui.saif.special import PAPER_ALPHAS, special_token_grid

    if args.instruction:
        _check_instruction(args.instruction)
    engine = engine_from_args(args, warmup=False)
    data = special_token_grid(
        engine,
        sae_at_layer(engine, args.layer),
        args.content,
        args.latent,
        args.alphas or PAPER_ALPHAS,
        positions=args.positions,
        decoding=Decoding(max_new_tokens=args.max_new_tokens),
        instruction=args.instruction,
    )
    token = f" (fires on {data['token']!r})" if data["token"] else ""
    lines = [f"latent {data['latent']} of {data['sae']}{token}"]
    lines += [f"--- α={r['alpha']:g}\n{r['text']}" for r in data["rows"]]
    emit(args, data, "\n".join(lines))
    return 0


# ---------------------------------------------------------------- findings


def _findings_args(p: argparse.ArgumentParser) -> None:
    _engine_args(p)
    p.add_argument("--out", type=Path, help="output folder (default: the repo's docs/)")
    p.add_argument("--instructions", default="french,json", help="comma-separated catalogue ids")
    p.add_argument("--n-contents", type=int, default=16, help="held-out contents per evaluation")
    p.add_argument("--alphas", type=_floats, default=(0.5, 1.0, 2.0, 4.0), help="α sweep")
    p.add_argument("--max-new-tokens", type=int, default=40)
    p.add_argument("--no-cache", action="store_true", help="rerun every study even if its result is cached")


@command("findings", "run the steering studies and write docs/FINDINGS.md with figures", _findings_args)
def cmd_findings(args: argparse.Namespace) -> int:
    from saif_ui.saif.findings import DOCS, run_studies, write_findings
    from saif_ui.saif.studies import StudyConfig

    instructions = tuple(i.strip() for i in args.instructions.split(",") if i.strip())
    for i in instructions:
        _check_instruction(i)
    cfg = StudyConfig(
        instructions=instructions,
        n_contents=args.n_contents,
        alphas=args.alphas,
        max_new_tokens=args.max_new_tokens,
    )
    engine = engine_from_args(args, warmup=False)
    if not engine.saes:
        raise ValueError("no SAE is attached: the studies need at least one (pass --sae FOLDER)")
    data = run_studies(engine, cfg, use_cache=not args.no_cache, log=lambda m: print(m, flush=True))
    path = write_findings(data, args.out or DOCS)
    print(f"wrote {path} ({data['seconds']:.0f} s)")
    return 0


# ---------------------------------------------------------------- prompted compliance


def _compliance_args(p: argparse.ArgumentParser) -> None:
    _engine_args(p)
    p.add_argument("--instructions", help="comma-separated catalogue ids (default: all)")
    p.add_argument("--n-contents", type=int, default=16, help="held-out contents per instruction")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--write", action="store_true", help="store the strict rates in assets/instructions.json")
    p.add_argument("--json", action="store_true", help="print JSON")


@command("compliance", "measure how often the model follows each instruction when told (prompted)", _compliance_args)
def cmd_compliance(args: argparse.Namespace) -> int:
    from saif_ui.saif.compare import Decoding
    from saif_ui.saif.compliance import prompted_compliance, write_compliance

    ids = [i.strip() for i in args.instructions.split(",") if i.strip()] if args.instructions else None
    for i in ids or ():
        _check_instruction(i)
    engine = engine_from_args(args, warmup=False)
    rates = prompted_compliance(engine, ids, args.n_contents, Decoding(max_new_tokens=args.max_new_tokens))
    if args.write:
        about = (
            f"strict rate of {engine.config.model} on {args.n_contents} held-out contents, canonical wording after "
            f"the content, greedy, {args.max_new_tokens} new tokens (python -m saif_ui compliance --write)"
        )
        write_compliance(rates, about)
    lines = [f"{'instruction':>12} {'strict':>7} {'loose':>7}  example"]
    lines += [f"{i:>12} {r['strict']:>7.0%} {r['loose']:>7.0%}  {r['example'][:60]!r}" for i, r in rates.items()]
    emit(args, rates, "\n".join(lines))
    return 0
