"""CLI commands of SAIF steering: `steer` (one content, three modes), `evaluate` (an α sweep on validation
contents, or with `--auto` the instruction's validated recipe on test contents), `choose-recipe` (choose and save
that recipe on validation) and `special-grid` (FAST's special-token intervention).

`steer` uses the instruction's recipe when it has one and no latents, layer, top-k, spec or mean-diff are given.
`steer` and `evaluate` take `--instruction` twice (or three times) to steer several instructions at once
(`steering.joint`): each instruction's own spec (its recipe, else its top-k latents), a weight per instruction, every
answer judged by every checker."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from saif_ui.cli.common import (
    Command,
    check_instruction,
    decoding_args,
    decoding_from_args,
    emit,
    engine_args,
    engine_from_args,
    floats,
    ints,
)

_POSITIONS = ("all", "prompt", "generated")
_SCALES = ("mean_act", "unit")
_METHODS = ("add", "orthogonal", "cap", "clamp")
"""`SteeringSpec.METHODS`, typed here so that `--help` does not load torch (a test keeps them equal)."""


def _spec_args(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--positions", choices=_POSITIONS, default="all", help="where the vector is added")
    p.add_argument("--scale", choices=_SCALES, default="mean_act", help="per-latent base vector (see SteeringSpec)")
    p.add_argument(
        "--method",
        choices=_METHODS,
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


# ---------------------------------------------------------------- evaluate


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    _spec_args(p)
    p.add_argument(
        "--contents",
        type=Path,
        help='JSONL of {"id", "text"} (default: the validation split; with --auto the test split)',
    )
    p.add_argument(
        "--auto",
        action="store_true",
        help="evaluate only at the instruction's validated recipe (no α sweep), judged with its fidelity threshold",
    )
    p.add_argument("--n-contents", type=int, default=24, help="contents of the split used (0: all; --auto: all)")
    p.add_argument("--alphas", type=floats, help="comma-separated α sweep (default: suits the spec's scale)")
    p.add_argument("--prompted-steered", action="store_true", help="also run prompted + steered at each α")
    p.add_argument("--checker", help="judge with this checker instead of the instruction's (e.g. json_start)")
    p.add_argument("--out", type=Path, help="also write the JSON result to this file")
    p.add_argument(
        "--weights",
        type=floats,
        help="with several --instruction: evaluate this one cell, one weight per instruction (e.g. 1,2)",
    )
    p.add_argument(
        "--weight-grid",
        type=floats,
        help="with several --instruction: every combination of these weights but all zeros (default 0,1,2)",
    )
    # Without --auto, evaluate sweeps what the arguments name (the top-k by default), never the recipe.
    p.set_defaults(max_new_tokens=48, sweep=True)


def format_evaluation(d: dict[str, Any]) -> str:
    success = d.get("headline") == "success"

    def row(name: str, r: dict[str, Any]) -> str:
        ppl = r["fluency"]["perplexity"]
        extra = ""
        if success and "success" in r["ci"]:  # one content has no mismatched one to score fidelity against
            low, high = r["ci"]["success"]
            extra = f" {r['success']:>8.0%} [{low:.2f}, {high:.2f}] {r['chrf']['content']:>6.1f}"
        return (
            f"{name:>10} {r['strict']:>7.0%} {r['loose']:>7.0%} {r['fluent_strict']:>8.0%} "
            f"{(f'{ppl:.1f}' if ppl else '-'):>10} {r['fluency']['repetition']:>6.2f}{extra}"
        )

    n = d["baselines"]["original"]["n"]
    head = f"{d['instruction']} ({d['checker']}) @ layer {d['layer']}: {n} contents, best α {d['best_alpha']}"
    if "recipe" in d:
        r = d["recipe"]
        what = f"latents {r['latents']}" if r["latents"] else f"a trained vector at layer {r['layer']}"
        head += f"\nrecipe: {r['method']} k={r['k']} {what} α {r['alpha']} positions {r['positions']}"
        head += f", faithful at chrF >= {r['fidelity_threshold']}"
    cols = f"{'':>10} {'strict':>7} {'loose':>7} {'fluent':>8} {'perplexity':>10} {'repet.':>6}"
    if success:
        cols += f" {'success':>8} {'95% CI':>12} {'chrF':>6}"
    lines = [head, cols]
    lines += [row(name, r) for name, r in d["baselines"].items()]
    lines += [row(f"α={r['alpha']:g}", r) for r in d["results"]]
    return "\n".join(lines)


def format_joint(d: dict[str, Any]) -> str:
    ids = d["instructions"]
    head = (
        f"{' + '.join(ids)}: {d['n']} contents, faithful at chrF >= {d['fidelity_threshold']} "
        f"({d['threshold_source']}); best weights {d['best_weights']}"
    )
    cols = f"{'':>18} {'success':>8} {'95% CI':>12} {'both':>6} " + " ".join(f"{i[:10]:>10}" for i in ids)
    cols += f" {'repet.':>6} {'chrF':>6} {'p vs prompted':>13}"

    def row(name: str, r: dict[str, Any]) -> str:
        low, high = r["success"]["ci"]
        each = " ".join(f"{r['each'][i]['rate']:>10.0%}" for i in ids)
        p = r.get("paired", {}).get("prompted", {}).get("p")
        chrf = r["chrf_prompted"]
        return (
            f"{name:>18} {r['success']['rate']:>8.0%} [{low:.2f}, {high:.2f}] {r['joint_strict']['rate']:>6.0%} "
            f"{each} {r['repetition']:>6.2f} {(f'{chrf:.1f}' if chrf is not None else '-'):>6} "
            f"{(f'{p:.3g}' if p is not None else ''):>13}"
        )

    lines = [head, cols]
    lines += [row(name, r) for name, r in d["baselines"].items()]
    lines += [row("w=" + ",".join(f"{w:g}" for w in c["weights"]), c) for c in d["cells"]]
    return "\n".join(lines)


def _evaluate_joint(args: argparse.Namespace, ids: list[str]) -> int:
    import itertools
    import json

    from saif_ui.saif.discovery.discover import pick_contents
    from saif_ui.saif.inputs.contents import load_contents, load_user_contents
    from saif_ui.saif.steering.joint_eval import JointConfig, evaluate_joint

    refused = [flag for flag, value in (("--auto", args.auto), ("--alphas", args.alphas), ("--checker", args.checker),
               ("--prompted-steered", args.prompted_steered)) if value]  # fmt: skip
    if refused:
        raise ValueError(
            f"{', '.join(refused)} apply to one instruction; a joint evaluation sweeps --weights or --weight-grid "
            "(the joint study ships test figures: python -m saif_ui joint-study)"
        )
    if args.weights is not None and args.weight_grid is not None:
        raise ValueError("give --weights (one cell) or --weight-grid (every combination), not both")
    if args.weights is not None and len(args.weights) != len(ids):
        raise ValueError(f"--weights gives {len(args.weights)} values for {len(ids)} instructions: give one each")
    cells: tuple[tuple[float, ...], ...] | None = None
    if args.weights is not None:
        cells = (tuple(args.weights),)
    elif args.weight_grid is not None:
        cells = tuple(w for w in itertools.product(args.weight_grid, repeat=len(ids)) if any(w))
    contents = list(load_user_contents(args.contents)) if args.contents else pick_contents(
        load_contents("validation"), args.n_contents or None)  # fmt: skip
    cfg = JointConfig(weights=cells, placement=args.placement, decoding=decoding_from_args(args))
    cfg.cells(len(ids))  # a bad grid fails before the model loads
    engine = engine_from_args(args, warmup=False)
    joint = joint_spec(engine, argparse.Namespace(**{**vars(args), "weights": None}), ids)
    data = evaluate_joint(engine, joint, contents, cfg).to_dict()
    if args.out:
        args.out.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    emit(args, data, format_joint(data))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from saif_ui.saif.discovery.discover import pick_contents
    from saif_ui.saif.inputs.contents import load_contents, load_user_contents
    from saif_ui.saif.steering.evaluate import EvalConfig, evaluate
    from saif_ui.saif.steering.recipe import require_recipe

    ids = instructions_of(args)
    if len(ids) > 1:
        return _evaluate_joint(args, ids)
    recipe = require_recipe(args.instruction) if args.auto else None
    if recipe is not None and args.alphas:
        raise ValueError("--auto evaluates at the recipe's α only: drop --alphas (or --auto, to sweep)")
    contents = load_user_contents(args.contents) if args.contents else None
    if contents is None and recipe is not None:
        contents = tuple(pick_contents(load_contents("test"), None))
    cfg = EvalConfig(
        alphas=(recipe.steering.alpha,) if recipe is not None else args.alphas,
        n_contents=None if recipe is not None else args.n_contents or None,
        placement=args.placement,
        decoding=decoding_from_args(args),
        prompted_steered=args.prompted_steered,
        checker=args.checker,
        fidelity_threshold=recipe.fidelity_threshold if recipe is not None else None,
    )
    engine = engine_from_args(args, warmup=False)
    spec = recipe.steering if recipe is not None else build_spec(engine, args, 1.0)
    data = evaluate(engine, args.instruction, spec, contents, cfg).to_dict()
    if recipe is not None:
        data = {"recipe": recipe.summary(), **data}
    if args.out:
        args.out.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    emit(args, data, format_evaluation(data))
    return 0


# ---------------------------------------------------------------- choose-recipe


def _recipe_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--instruction", metavar="ID", required=True, help="catalogue id, e.g. french")
    p.add_argument("--alphas", type=floats, help="α grid of the search (default 1,2,4,8)")
    p.add_argument("--ks", type=ints, help="numbers of top latents tried (default 1,5; must include 5)")
    p.add_argument("--n-stage", type=int, help="validation contents of the screening stages (default 24)")
    p.add_argument("--write", action="store_true", help="save the recipe into assets/recipes.json")
    p.add_argument("--no-cache", action="store_true", help="regenerate every evaluation of the search")
    p.add_argument("--json", action="store_true", help="print the recipe as JSON")


def cmd_choose_recipe(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from saif_ui.saif.steering.recipe import save_recipe
    from saif_ui.saif.steering.recipe_search import SearchConfig, choose_recipe

    check_instruction(args.instruction)
    cfg = SearchConfig()
    for field, value in (("alphas", args.alphas), ("ks", args.ks), ("n_stage", args.n_stage)):
        if value is not None:
            cfg = replace(cfg, **{field: value})
    engine = engine_from_args(args, warmup=False)
    recipe = choose_recipe(engine, args.instruction, cfg, use_cache=not args.no_cache)
    v = recipe.validation
    text = (
        f"{recipe.instruction}: L{recipe.layer} k={recipe.k} latents {recipe.latents} α {recipe.spec.alpha} "
        f"positions {recipe.spec.positions} decay {recipe.spec.decay}\n"
        f"validation success {v['successes']}/{v['n']} [{v['ci'][0]:.2f}, {v['ci'][1]:.2f}], "
        f"faithful at chrF >= {recipe.fidelity_threshold}"
    )
    if args.write:
        text += f"\nsaved to {save_recipe(recipe)}"
    emit(args, recipe.to_dict(), text)
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
    "evaluate": ("steering accuracy and fluency over an α sweep, with both baselines", _evaluate_args, cmd_evaluate),
    "choose-recipe": (
        "choose an instruction's steering recipe on validation contents (layer, k, α, positions, decay)",
        _recipe_args,
        cmd_choose_recipe,
    ),
    "special-grid": ("steer with a special-token latent over FAST's α grid", _grid_args, cmd_special_grid),
}
