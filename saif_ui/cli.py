"""Command-line interface: `python -m saif_ui <command>`. Each command is a function registered in `COMMANDS`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]) -> Callable[[Handler], Handler]:
    """Register a subcommand; later modules add theirs the same way."""

    def register(fn: Handler) -> Handler:
        COMMANDS[name] = (help, configure, fn)
        return fn

    return register


def _engine_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine (defaults come from SAIF_* environment variables)")
    g.add_argument("--model", help="HF id or local folder of a causal LM (default: the embedded SmolLM2)")
    g.add_argument(
        "--sae",
        action="append",
        dest="saes",
        metavar="SOURCE",
        help="SAE folder or sae-lens 'release/sae_id'; repeat for several (default: the shipped SAEs)",
    )
    g.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    g.add_argument("--cache-dir", help="where the converted model and caches live (SAIF_CACHE_DIR)")
    g.add_argument("--no-system-prompt", action="store_true", help="drop the chat template's default system prompt")


def engine_from_args(args: argparse.Namespace, warmup: bool = True) -> Any:
    """Build the engine the arguments describe (imports torch lazily so `--help` stays fast)."""
    from saif_ui.engine import Engine, EngineConfig

    overrides: dict[str, Any] = {"warmup": warmup}
    for field in ("model", "saes", "device", "cache_dir"):
        if getattr(args, field, None):
            overrides[field] = getattr(args, field)
    if getattr(args, "no_system_prompt", False):
        overrides["default_system_prompt"] = False
    return Engine.load(EngineConfig.from_env(**overrides))


def emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    """Print JSON with `--json`, else the human-readable text."""
    print(json.dumps(data, indent=2, ensure_ascii=False) if getattr(args, "json", False) else text)


# ---------------------------------------------------------------- info


def _info_args(p: argparse.ArgumentParser) -> None:
    _engine_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")


@command("info", "show the model, SAEs, device, dtype and cache directory", _info_args)
def cmd_info(args: argparse.Namespace) -> int:
    info = engine_from_args(args, warmup=False).info()
    lines = [f"{k}: {v}" for k, v in info.items() if k != "saes"]
    lines.append(f"saes: {len(info['saes'])}")
    lines += [
        f"  - {s['name']}: layer {s['layer']} ({s['hook_name']}), d_sae {s['d_sae']}, {s['architecture']}"
        for s in info["saes"]
    ]
    emit(args, info, "\n".join(lines))
    return 0


# ---------------------------------------------------------------- generate


def _generate_args(p: argparse.ArgumentParser) -> None:
    _engine_args(p)
    p.add_argument("--prompt", required=True, action="append", help="user message; repeat for a batch")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON")


@command("generate", "generate an answer to a user prompt with the chat template", _generate_args)
def cmd_generate(args: argparse.Namespace) -> int:
    engine = engine_from_args(args)
    rendered = [engine.render(p) for p in args.prompt]
    gens = engine.generate(
        rendered,
        max_new_tokens=args.max_new_tokens,
        do_sample=args.sample,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
    )
    n_tokens = sum(len(g.token_ids) for g in gens)
    seconds = gens[0].seconds if gens else 0.0
    data = {
        "model": engine.loaded.model_id,
        "results": [
            {"prompt": p, "rendered": g.prompt, "text": g.text, "n_tokens": len(g.token_ids), "finished": g.finished}
            for p, g in zip(args.prompt, gens, strict=True)
        ],
        "seconds": round(seconds, 3),
        "tokens_per_second": round(n_tokens / seconds, 2) if seconds else None,
    }
    emit(args, data, "\n\n".join(g.text for g in gens))
    return 0


# ---------------------------------------------------------------- entry


COMMAND_MODULES = ("saif_ui.fast.cli", "saif_ui.saif.cli", "saif_ui.saif.steer_cli")
"""Modules whose import registers more commands (kept out of this file so each room owns its CLI)."""


def build_parser() -> argparse.ArgumentParser:
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module)
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
