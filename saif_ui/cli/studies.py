"""Commands of the studies: one `<study>-study` command per declared study (`saif.studies.registry`: each runs or
reads back its results under docs/studies/), `findings` (write docs/FINDINGS.md from the shipped studies, generating
nothing), `compliance` (how often the model follows each instruction when told) and `screen` (measure every
candidate instruction, publish docs/SCREEN.md and keep the followed ones in the catalogue)."""

from __future__ import annotations

import argparse
from pathlib import Path

from saif_ui.cli.common import Command, check_instruction, emit, engine_args, engine_from_args
from saif_ui.saif.studies.registry import Card, cards


def _findings_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="output folder (default: the repo's docs/)")


def cmd_findings(args: argparse.Namespace) -> int:
    from saif_ui.saif.studies.findings import write_findings

    path = write_findings(args.out)
    print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------- the studies, one command each


def study_command(card: Card) -> Command:
    """The command that runs (or reads back) a study: its option, `--force`, the engine; it prints the study's
    summary of each document. The parser is built from the study's card, so `--help` imports no study."""

    def configure(p: argparse.ArgumentParser) -> None:
        engine_args(p)
        if card.flag is not None:
            p.add_argument(card.flag, default=card.default, help=card.option_help)
        p.add_argument("--force", action="store_true", help="rerun even when the shipped result's key still matches")

    def handle(args: argparse.Namespace) -> int:
        study = card.study()
        option = study.option
        items = None if option is None else option.parse(getattr(args, option.flag.lstrip("-").replace("-", "_")))
        if study.bare_model:
            args.saes = []  # the study harvests the bare model
        engine = engine_from_args(args, warmup=False)
        for item, doc in study.run(engine, items, force=args.force, log=lambda m: print(m, flush=True)).items():
            for line in study.summary(item, doc):
                print(line)
        return 0

    return card.help, configure, handle


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
    from saif_ui.resources import output_dir
    from saif_ui.saif.interpret.labels_report import label_report, write_label_report

    engine = engine_from_args(args, warmup=False)
    report = label_report(engine)
    path = write_label_report(report, args.out or output_dir("docs"))
    emit(args, report, f"wrote {path}")
    return 0


COMMANDS: dict[str, Command] = {
    "findings": ("write docs/FINDINGS.md and its figures from the shipped study results", _findings_args, cmd_findings),
    "label-report": (
        "label every latent of the attached SAEs from its top contexts and measure the labels split-half",
        _label_report_args,
        cmd_label_report,
    ),
    **{card.command: study_command(card) for card in cards()},
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
