"""Commands of the studies: `steering-study` (each validated recipe on test contents, shipped under docs/studies/),
`joint-study` (two instructions' recipes steering together), `findings` (write docs/FINDINGS.md from the shipped
studies, generating nothing), `compliance` (how often the model follows each instruction when told) and `screen`
(measure every candidate instruction, publish docs/SCREEN.md and keep the followed ones in the catalogue)."""

from __future__ import annotations

import argparse
from pathlib import Path

from saif_ui.cli.common import Command, check_instruction, emit, engine_args, engine_from_args


def _findings_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="output folder (default: the repo's docs/)")


def cmd_findings(args: argparse.Namespace) -> int:
    from saif_ui.saif.studies.findings import DOCS, write_findings

    path = write_findings(args.out or DOCS)
    print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------- the steering study on test contents


def _steering_study_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument(
        "--instructions", help="comma-separated catalogue ids (default: every instruction with a validated recipe)"
    )
    p.add_argument("--force", action="store_true", help="rerun even when the shipped result's key still matches")


def _recipe_ids(args: argparse.Namespace) -> list[str]:
    """`--instructions` (checked against the catalogue), or every instruction with a shipped recipe."""
    from saif_ui.saif.steering.recipe import load_recipes

    ids = [i.strip() for i in (args.instructions or ",".join(load_recipes())).split(",") if i.strip()]
    for i in ids:
        check_instruction(i)
    return ids


def cmd_steering_study(args: argparse.Namespace) -> int:
    from saif_ui.saif.studies.steering_study import steering_study

    ids = _recipe_ids(args)
    engine = engine_from_args(args, warmup=False)
    docs = steering_study(engine, ids, force=args.force, log=lambda m: print(m, flush=True))
    for iid, doc in docs.items():
        m = doc["result"]["methods"]
        row = ", ".join(f"{name} {m[name]['success']:.0%}" for name in ("original", "prompted", "steered"))
        print(f"{iid}: n {doc['result']['n']}: {row} ({doc['seconds']:.0f} s)")
    return 0


def _joint_study_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument(
        "--pairs",
        help="pairs of instructions with recipes, e.g. french+question,spanish+postscript (default: the study's pairs)",
    )
    p.add_argument("--force", action="store_true", help="rerun even when the shipped result's key still matches")


def cmd_joint_study(args: argparse.Namespace) -> int:
    from saif_ui.saif.steering.recipe import require_recipe
    from saif_ui.saif.studies.joint_study import PAIRS, joint_study

    pairs = PAIRS
    if args.pairs:
        pairs = tuple(tuple(i.strip() for i in p.split("+")) for p in args.pairs.split(",") if p.strip())
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ValueError(f"a pair is two different instructions joined by '+', not {'+'.join(pair)!r}")
        for iid in pair:
            check_instruction(iid)
            require_recipe(iid)
    engine = engine_from_args(args, warmup=False)
    for pid, doc in joint_study(engine, pairs, force=args.force, log=lambda m: print(m, flush=True)).items():
        m = doc["result"]["test"]["methods"]
        row = ", ".join(f"{name} {m[name]['success']['rate']:.0%}" for name in ("original", "prompted", "joint"))
        print(f"{pid}: weights {doc['result']['weights']}, n {doc['result']['test']['n']}: {row} "
              f"({doc['seconds']:.0f} s)")  # fmt: skip
    return 0


def cmd_proximity_study(args: argparse.Namespace) -> int:
    from saif_ui.saif.studies.proximity_study import proximity_study

    ids = _recipe_ids(args)
    engine = engine_from_args(args, warmup=False)
    for iid, doc in proximity_study(engine, ids, force=args.force, log=lambda m: print(m, flush=True)).items():
        r = doc["result"]
        print(
            f"{iid}: selected {r['selected_mean']} vs random {r['random_mean']} (n_random {r['n_random']}, "
            f"Mann-Whitney p {r['mann_whitney_p']:.3g}) on {r['n_prompts']} prompts"
        )
    return 0


def cmd_placement_study(args: argparse.Namespace) -> int:
    from saif_ui.saif.studies.placement_study import placement_study

    ids = _recipe_ids(args)
    engine = engine_from_args(args, warmup=False)
    for iid, doc in placement_study(engine, ids, force=args.force, log=lambda m: print(m, flush=True)).items():
        r = doc["result"]
        p, s, d = r["prompted"]["fluent_strict"], r["steering"]["success"], r["discovery"]
        overlap = d[f"jaccard_at_{d['k']}"]
        print(
            f"{iid}: prompted post {p['post']['rate']:.0%} vs pre {p['pre']['rate']:.0%} (p {p['paired']['p']:.3g}); "
            f"steered post {s['post']['rate']:.0%} vs pre {s['pre']['rate']:.0%} (p {s['paired']['p']:.3g}); "
            f"top-{d['k']} Jaccard {overlap} ({doc['seconds']:.0f} s)"
        )
    return 0


def cmd_ablation_study(args: argparse.Namespace) -> int:
    from saif_ui.saif.studies.ablation_study import ablation_study

    ids = _recipe_ids(args)
    engine = engine_from_args(args, warmup=False)
    for iid, doc in ablation_study(engine, ids, force=args.force, log=lambda m: print(m, flush=True)).items():
        row = ", ".join(
            f"{p['label']} {p['success']['rate']:.0%}/{p['fluent_strict']['rate']:.0%}" for p in doc["result"]["points"]
        )
        print(f"{iid} (success/fluent strict): {row} ({doc['seconds']:.0f} s)")
    return 0


def cmd_layers_study(args: argparse.Namespace) -> int:
    from saif_ui.saif.studies.layers_study import layers_study

    ids = _recipe_ids(args)
    engine = engine_from_args(args, warmup=False)
    for iid, doc in layers_study(engine, ids, force=args.force, log=lambda m: print(m, flush=True)).items():
        row = ", ".join(
            f"L{b['layer']} α={b['alpha']:g} {b['success']['rate']:.0%}/{b['fluent_strict']['rate']:.0%}"
            for b in doc["result"]["layers"]
        )
        print(f"{iid} (success/fluent strict): {row} ({doc['seconds']:.0f} s)")
    return 0


def cmd_selection_study(args: argparse.Namespace) -> int:
    from saif_ui.saif.studies.selection_study import selection_study

    ids = _recipe_ids(args)
    engine = engine_from_args(args, warmup=False)
    for iid, doc in selection_study(engine, ids, force=args.force, log=lambda m: print(m, flush=True)).items():
        o = doc["result"]["output_effect"]
        print(
            f"{iid}: output-effect latents {o['latents']} at α {o['alpha']:g}: success {o['success']['rate']:.0%}, "
            f"fluent strict {o['fluent_strict']['rate']:.0%} ({doc['seconds']:.0f} s)"
        )
    return 0


def _fast_vs_bt_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds (default: 0,1)")
    p.add_argument("--force", action="store_true", help="rerun even when the shipped result's key still matches")


def cmd_fast_vs_bt(args: argparse.Namespace) -> int:
    from saif_ui.saif.studies.fast_vs_bt import fast_vs_bt

    try:
        seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    except ValueError:
        raise SystemExit(f"--seeds must be comma-separated integers, not {args.seeds!r}") from None
    args.saes = []  # harvesting reads the bare model
    engine = engine_from_args(args, warmup=False)
    for item, doc in fast_vs_bt(engine, seeds=seeds, force=args.force, log=lambda m: print(m, flush=True)).items():
        r = doc["result"]
        for method, block in r["saes"].items():
            f, b = block["reports"]["fast_format"], block["reports"]["bt_format"]
            print(
                f"{item} {method}: FAST-format log2 MSE {f['log2_mse']:.3f}, MSE_st {f['log2_mse_st']:.3f}, EV "
                f"{f['explained_variance']:.3f}; BT-format log2 MSE {b['log2_mse']:.3f}, MSE_st {b['log2_mse_st']:.3f}"
            )
        print(f"{item}: paired {r['paired']} ({doc['seconds']:.0f} s)")
    return 0


def _special_study_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--force", action="store_true", help="rerun even when the shipped result's key still matches")


def cmd_special_study(args: argparse.Namespace) -> int:
    from saif_ui.saif.studies.special_study import special_study

    engine = engine_from_args(args, warmup=False)
    for sae, doc in special_study(engine, force=args.force, log=lambda m: print(m, flush=True)).items():
        r = doc["result"]
        print(f"{sae}: latent {r['latent']} ({r['token']!r}) vs random {r['random_latent']} ({doc['seconds']:.0f} s)")
    return 0


# ---------------------------------------------------------------- prompted compliance


def _compliance_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--instructions", help="comma-separated catalogue ids (default: all)")
    p.add_argument("--n-contents", type=int, default=16, help="held-out contents per instruction")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--write", action="store_true", help="store the strict rates in assets/instructions.json")
    p.add_argument("--json", action="store_true", help="print JSON")


def cmd_compliance(args: argparse.Namespace) -> int:
    from saif_ui.engine.decoding import Decoding
    from saif_ui.saif.studies.compliance import prompted_compliance, write_compliance

    ids = [i.strip() for i in args.instructions.split(",") if i.strip()] if args.instructions else None
    for i in ids or ():
        check_instruction(i)
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


# ---------------------------------------------------------------- the candidate screen


def _screen_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--n-contents", type=int, help="held-out contents per candidate (default: all of them)")
    p.add_argument(
        "--first-stage",
        type=int,
        default=0,
        help="a quicker two-stage screen: every candidate gets this many contents first (32 or more), and one whose "
        "95%% interval lies below the bar stops there (default 0: every candidate gets all contents)",
    )
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--candidates", type=Path, help="candidate file (default: assets/candidates.json)")
    p.add_argument(
        "--write",
        action="store_true",
        help="write docs/screen.json and docs/SCREEN.md, and the kept candidates into assets/instructions.json",
    )
    p.add_argument("--no-cache", action="store_true", help="regenerate even if the generations are cached")
    p.add_argument(
        "--republish",
        action="store_true",
        help="rewrite SCREEN.md and the catalogue from the shipped docs/screen.json (no model, nothing generated)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")


def cmd_screen(args: argparse.Namespace) -> int:
    from saif_ui.saif.inputs.catalogue import CANDIDATES_PATH, load_catalogue
    from saif_ui.saif.studies.screen import ScreenConfig, run_screen
    from saif_ui.saif.studies.screen_report import screen_table, write_catalogue, write_screen

    cfg = ScreenConfig(
        n_contents=args.n_contents, first_stage=args.first_stage or None, max_new_tokens=args.max_new_tokens
    )
    candidates_path = args.candidates or CANDIDATES_PATH
    if args.republish:
        import json

        from saif_ui.saif.studies.screen import DOCS

        result = json.loads((DOCS / "screen.json").read_text(encoding="utf-8"))
    else:
        candidates = load_catalogue(candidates_path)
        engine = engine_from_args(args, warmup=False)
        log = (lambda m: None) if args.json else (lambda m: print(m, flush=True))
        result = run_screen(engine, candidates, cfg, use_cache=not args.no_cache, log=log)
    if args.write or args.republish:
        catalogue = write_catalogue(result, candidates_path)
        paths = write_screen(result)
        if not args.json:
            print(f"wrote {catalogue}, {paths[0]}, {paths[1]}")
    emit(args, result, screen_table(result))
    return 0


def _label_report_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--out", type=Path, help="output folder (default: the repo's docs/)")
    p.add_argument("--json", action="store_true")


def cmd_label_report(args: argparse.Namespace) -> int:
    from saif_ui.saif.interpret.labels_report import label_report, write_label_report
    from saif_ui.saif.studies.findings import DOCS

    engine = engine_from_args(args, warmup=False)
    report = label_report(engine)
    path = write_label_report(report, args.out or DOCS)
    emit(args, report, f"wrote {path}")
    return 0


COMMANDS: dict[str, Command] = {
    "findings": ("write docs/FINDINGS.md and its figures from the shipped study results", _findings_args, cmd_findings),
    "label-report": (
        "label every latent of the attached SAEs from its top contexts and measure the labels split-half",
        _label_report_args,
        cmd_label_report,
    ),
    "steering-study": (
        "each validated recipe on test contents beside the prompted baseline and controls; ships docs/studies/",
        _steering_study_args,
        cmd_steering_study,
    ),
    "joint-study": (
        "two instructions at once: the union of two recipes, weights chosen on validation, on test with controls",
        _joint_study_args,
        cmd_joint_study,
    ),
    "proximity-study": (
        "do the recipe's latents fire on the instruction's own tokens more than random latents? ships docs/studies/",
        _steering_study_args,
        cmd_proximity_study,
    ),
    "placement-study": (
        "instruction after vs before the content, in the prompted baseline, at discovery and when steering",
        _steering_study_args,
        cmd_placement_study,
    ),
    "ablation-study": (
        "drop-one and add-one curves of each recipe with several latents, on test contents",
        _steering_study_args,
        cmd_ablation_study,
    ),
    "layers-study": (
        "each instruction steered at every shipped SAE's layer (α chosen on validation), on test contents",
        _steering_study_args,
        cmd_layers_study,
    ),
    "selection-study": (
        "latents chosen by output effect (GradSAE-style) vs SAIF's input contrast, tuned on validation, on test",
        _steering_study_args,
        cmd_selection_study,
    ),
    "fast-vs-bt-study": (
        "FAST vs block training at the same budget, several seeds, measured on both formats; ships docs/studies/",
        _fast_vs_bt_args,
        cmd_fast_vs_bt,
    ),
    "special-study": (
        "FAST's special-token steering measured (structure, politeness, loops, length) against a random latent",
        _special_study_args,
        cmd_special_study,
    ),
    "compliance": (
        "measure how often the model follows each instruction when told (prompted)",
        _compliance_args,
        cmd_compliance,
    ),
    "screen": (
        "screen candidate instructions: prompted compliance with 95%% intervals; --write publishes docs/SCREEN.md "
        "and keeps the followed ones in the catalogue",
        _screen_args,
        cmd_screen,
    ),
}
