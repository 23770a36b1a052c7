"""Commands about the engine itself: `info` (model, SAEs, device, dtype, cache, and the memory plan) and `generate`."""

from __future__ import annotations

import argparse
from typing import Any

from saif_ui.cli.common import Command, decoding_args, decoding_from_args, emit, engine_args, engine_from_args, floats


def _info_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    g = p.add_argument_group("memory plan (read from config files: nothing is loaded or downloaded)")
    g.add_argument(
        "--plan-only",
        action="store_true",
        help="print the memory plan and stop, without loading the model (exit 1 when one request cannot fit)",
    )
    g.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], help="SAIF_DTYPE (auto: bf16 on GPU)")
    g.add_argument("--batch", type=int, help="rows generated at once (default 32, the evaluations' batch)")
    g.add_argument("--max-new-tokens", type=int, help="new tokens per row (default 1024, the engine's bound)")
    g.add_argument("--gpu-gb", type=floats, help="plan for GPUs with this much free memory, GB each: 24 or 80,80")
    g.add_argument("--ram-gb", type=float, help="plan for a machine with this much RAM (GB)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _config(args: argparse.Namespace) -> Any:
    """The `EngineConfig` the arguments describe (as `engine_from_args` builds it, with --dtype), no warm-up."""
    from saif_ui.engine.config import EngineConfig

    overrides: dict[str, Any] = {"warmup": False}
    for field in ("model", "saes", "device", "cache_dir", "dtype"):
        if getattr(args, field, None):
            overrides[field] = getattr(args, field)
    if args.no_system_prompt:
        overrides["default_system_prompt"] = False
    return EngineConfig.from_env(**overrides)


def _plan(args: argparse.Namespace, config: Any) -> Any:
    """The memory plan of `config` for this machine, or for the GPUs and RAM the arguments name."""
    from dataclasses import replace

    from saif_ui.engine.errors import SaifError
    from saif_ui.engine.plan import GB, Capacity, Limits, plan_memory

    if args.gpu_gb and config.device in ("cpu", "mps"):
        raise SaifError(f"--gpu-gb plans for GPUs, but the device is {config.device}: drop one of them")
    sizes = [*(args.gpu_gb or ()), *(() if args.ram_gb is None else (args.ram_gb,))]
    if any(size <= 0 for size in sizes):
        raise SaifError("--gpu-gb and --ram-gb must be > 0")
    if args.gpu_gb:
        capacity = Capacity("cuda", tuple(int(g * GB) for g in args.gpu_gb), Capacity.detect("cpu").ram)
    else:
        capacity = Capacity.detect(config.device)
    if args.ram_gb is not None:
        capacity = replace(capacity, ram=int(args.ram_gb * GB))
    chosen = {"batch": args.batch, "new_tokens": args.max_new_tokens}
    limits = Limits(config.max_prompt_tokens, **{k: v for k, v in chosen.items() if v is not None})
    return plan_memory(config, capacity=capacity, limits=limits)


def cmd_info(args: argparse.Namespace) -> int:
    from saif_ui.engine import Engine
    from saif_ui.engine.shapes import PlanUnavailable

    config = _config(args)
    try:
        plan = _plan(args, config)
    except PlanUnavailable as e:
        if args.plan_only:
            raise
        plan, unavailable = None, str(e)
    if args.plan_only:
        emit(args, plan.to_dict(), plan.explain())
        return 0 if plan.fits_one else 1
    info = Engine.load(config).info()
    info["memory_plan"] = plan.to_dict() if plan else {"unavailable": unavailable}
    lines = [f"{k}: {v}" for k, v in info.items() if k not in ("saes", "memory_plan")]
    lines.append(f"saes: {len(info['saes'])}")
    lines += [
        f"  - {s['name']}: layer {s['layer']} ({s['hook_name']}), d_sae {s['d_sae']}, {s['architecture']}"
        for s in info["saes"]
    ]
    lines.append(plan.explain() if plan else f"memory plan: unavailable ({unavailable})")
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
    "info": ("show the model, SAEs, device, dtype, cache directory and memory plan", _info_args, cmd_info),
    "generate": ("generate an answer to a user prompt with the chat template", _generate_args, cmd_generate),
}
