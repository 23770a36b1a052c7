"""What every command shares: the engine arguments, building the engine they describe, printing JSON or text, and
argument types for comma-separated lists."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from saif_ui.cli.fields import add_dataclass_args, dataclass_values
from saif_ui.engine.decoding import Decoding

Handler = Callable[[argparse.Namespace], int]
Configure = Callable[[argparse.ArgumentParser], None]
Command = tuple[str, Configure, Handler]
"""(help, configure the parser, handle the parsed arguments)."""


def engine_args(p: argparse.ArgumentParser) -> None:
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


def floats(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated numbers, at least one."""
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def ints(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated integers (latent ids, layers)."""
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text[:40]!r}") from None
    twice = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if twice is not None:
        raise argparse.ArgumentTypeError(f"{twice} is listed twice: give each once")
    return values


def check_instruction(instruction: str) -> None:
    """Fail in a second on a typo, before the model loads."""
    from saif_ui.saif.discovery.discover import resolve_instruction
    from saif_ui.saif.inputs.catalogue import UnknownInstructionError

    try:
        resolve_instruction(instruction)
    except UnknownInstructionError as e:
        raise ValueError(str(e)) from None


DECODING_FLAGS = tuple(f.name for f in fields(Decoding))


def decoding_args(p: argparse.ArgumentParser, **defaults: Any) -> None:
    """Generation settings, `Decoding`'s fields (greedy unless --sample, seeded); `defaults` are this command's own
    where they differ from `Decoding`'s."""
    add_dataclass_args(p, Decoding, DECODING_FLAGS, flags={"do_sample": "sample"}, defaults=defaults)


def decoding_from_args(args: argparse.Namespace) -> Decoding:
    """The `Decoding` the flags of `decoding_args` describe (checked: a bad value is a SaifError naming it)."""
    return Decoding(**dataclass_values(Decoding, args, DECODING_FLAGS))
