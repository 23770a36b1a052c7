"""CLI commands `evaluate` (an α sweep on validation contents, or with `--auto` the instruction's validated recipe
on test contents; several instructions at once over a grid of weights) and `choose-recipe` (choose and save that
recipe on validation). The steering flags are `cli.spec`'s."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from saif_ui.cli.common import (
    Command,
    check_instruction,
    decoding_from_args,
    emit,
    engine_args,
    engine_from_args,
    floats,
    ints,
)
from saif_ui.cli.spec import build_spec, instructions_of, joint_spec, spec_args

# ---------------------------------------------------------------- evaluate


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    spec_args(p)
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
    p.add_argument(
        "--methods",
        type=lambda text: tuple(m.strip() for m in text.split(",") if m.strip()),
        help="interventions tried, comma-separated (default add; e.g. add,clamp,cap,orthogonal: a stage each)",
    )
    p.add_argument("--write", action="store_true", help="save the recipe into assets/recipes.json")
    p.add_argument("--no-cache", action="store_true", help="regenerate every evaluation of the search")
    p.add_argument("--json", action="store_true", help="print the recipe as JSON")


def cmd_choose_recipe(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from saif_ui.saif.steering.recipe import save_recipe
    from saif_ui.saif.steering.recipe_search import SearchConfig, choose_recipe

    check_instruction(args.instruction)
    cfg = SearchConfig()
    for field in ("alphas", "ks", "n_stage", "methods"):
        if getattr(args, field) is not None:
            cfg = replace(cfg, **{field: getattr(args, field)})
    engine = engine_from_args(args, warmup=False)
    recipe = choose_recipe(engine, args.instruction, cfg, use_cache=not args.no_cache)
    v = recipe.validation
    text = (
        f"{recipe.instruction}: L{recipe.layer} k={recipe.k} latents {recipe.latents} α {recipe.spec.alpha} "
        f"positions {recipe.spec.positions} decay {recipe.spec.decay} method {recipe.spec.method}\n"
        f"validation success {v['successes']}/{v['n']} [{v['ci'][0]:.2f}, {v['ci'][1]:.2f}], "
        f"faithful at chrF >= {recipe.fidelity_threshold}"
    )
    if args.write:
        text += f"\nsaved to {save_recipe(recipe)}"
    emit(args, recipe.to_dict(), text)
    return 0


COMMANDS: dict[str, Command] = {
    "evaluate": ("steering accuracy and fluency over an α sweep, with both baselines", _evaluate_args, cmd_evaluate),
    "choose-recipe": (
        "choose an instruction's steering recipe on validation contents (layer, k, α, positions, decay)",
        _recipe_args,
        cmd_choose_recipe,
    ),
}
