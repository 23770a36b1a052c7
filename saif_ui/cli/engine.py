"""Commands about the engine itself: `info` (model, SAEs, device, dtype, cache) and `generate`."""

from __future__ import annotations

import argparse

from saif_ui.cli.common import Command, decoding_args, decoding_from_args, emit, engine_args, engine_from_args


def _info_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")


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
    engine_args(p)
    p.add_argument("--prompt", required=True, action="append", help="user message; repeat for a batch")
    decoding_args(p, temperature=0.7, top_p=0.9)
    p.add_argument("--json", action="store_true", help="print JSON")


def cmd_generate(args: argparse.Namespace) -> int:
    engine = engine_from_args(args)
    rendered = [engine.render(p) for p in args.prompt]
    gens = engine.generate(rendered, decoding=decoding_from_args(args))
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


COMMANDS: dict[str, Command] = {
    "info": ("show the model, SAEs, device, dtype and cache directory", _info_args, cmd_info),
    "generate": ("generate an answer to a user prompt with the chat template", _generate_args, cmd_generate),
}
