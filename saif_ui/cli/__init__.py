"""Command-line interface, `python -m saif_ui <command>`: a shell over the library, imported by nothing in it.

One module per group of commands, each listing its commands in `COMMANDS`; this module only assembles the parser.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from saif_ui.cli import discover, distil, engine, evaluate, fast, steer, studies
from saif_ui.cli.common import Command

COMMANDS: dict[str, Command] = {
    **engine.COMMANDS,
    **discover.COMMANDS,
    **steer.COMMANDS,
    **evaluate.COMMANDS,
    **distil.COMMANDS,
    **studies.COMMANDS,
    **fast.COMMANDS,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m saif_ui",
        description="saif_ui: find and steer the SAE latents that carry instructions in an instruct model.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, configure, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would bury the command's own output
    from saif_ui.engine import ModelLoadError, SAELoadError

    try:
        return int(args.handler(args))
    except (ModelLoadError, SAELoadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
