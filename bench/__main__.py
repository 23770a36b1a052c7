"""Every performance figure of saif_ui in one run: ratios measured side by side (best of >= 3) on this machine.

    python -m bench [--quick] [--only P1,P2,...] [--gpu] [--readme]

Writes `bench/results/<date>-<machine>.json` (per id: value, target, met, raw timings) and prints a table.
`--readme` rewrites the README's Performance section from the newest results file (no measuring). `--quick` keeps the
run under ten minutes on a 2-core CPU (fewer contents, shorter outputs). P3 (sae-lens on TransformerLens) is
sae-lens's HookedSAETransformer on TransformerLens, built as bench/sae_lens_path.py says.

The plain run is the CPU column: its engine runs on the CPU even where a GPU is present. `--gpu` is the GPU column:
the figures that matter on a GPU (GPU_IDS) with the engine on cuda in bf16, written to
`bench/results/<date>-<gpu>-gpu.json`; without CUDA it stops at once (exit 2) and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from bench import GPU_IDS, IDS, app_figures, distil_figures, engine_figures, sae_lens_path, stream_figures
from bench.readme import table, write_readme
from bench.timing import Figure

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
NO_CUDA = (
    "python -m bench --gpu needs CUDA, and torch {torch} sees no CUDA device (torch.cuda.is_available() is False): "
    "nothing was measured and no results file was written. Run it on a machine with an NVIDIA GPU and a CUDA build "
    "of torch; `python -m bench` without --gpu measures the CPU column."
)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "host": platform.node() or "machine",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def gpu_machine() -> dict[str, Any]:
    """`machine()` plus what names the GPU a `--gpu` run measured: its memory, CUDA and the device it ran on."""
    props = torch.cuda.get_device_properties(0)
    return {
        **machine(),
        "device": "cuda",
        "gpu_memory_gb": round(props.total_memory / 1e9, 1),
        "gpu_count": torch.cuda.device_count(),
        "cuda": torch.version.cuda,
    }


def slug(name: str) -> str:
    """A file-name-safe form of a device name: `NVIDIA H200` -> `nvidia-h200`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "gpu"


def commit() -> str:
    """HEAD's short hash, with `+dirty` when tracked files differ from it (the figures then are not HEAD's)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def measure(
    ids: set[str],
    quick: bool,
    log: Any = print,
    durations: dict[str, float] | None = None,
    gpu: bool = False,
    loaded: dict[str, str] | None = None,
) -> list[Figure]:
    """Every figure in `ids`; `durations` (when given) receives each stage's wall seconds, so a slow run shows where
    its minutes went. The engine runs on the CPU, or with `gpu` on cuda in bf16 (the other `SAIF_*` variables as
    set); `loaded` (when given) receives the device and dtype it actually ran in."""
    from saif_ui.engine import Engine, EngineConfig

    spent = durations if durations is not None else {}

    figures: list[Figure] = []
    engine_ids = ids & {"P1", "P2", "P3", "P4", "P7", "P8", "P10", "P11", "P12"}
    if engine_ids:
        torch.set_grad_enabled(False)
        placed = {"device": "cuda", "dtype": "bfloat16"} if gpu else {"device": "cpu"}
        engine = Engine.load(EngineConfig.from_env(**placed))
        if loaded is not None:
            loaded.update({k: engine.info()[k] for k in ("device", "dtype")})
        sae = next(n for n in engine.sae_names() if "L24" in n) if any("L24" in n for n in engine.sae_names()) else (
            engine.sae_names()[-1])  # fmt: skip
        steps = {
            "P1": lambda: [
                engine_figures.p1_steered_generation(engine, quick),
                engine_figures.p1_three_answers(engine, quick),
            ],
            "P2": lambda: engine_figures.p2_discovery(engine, sae, quick),
            "P3": lambda: sae_lens_path.p3_sae_lens(
                engine, sae, engine_figures.discovery_prompts(engine, 16 if quick else 48), quick
            ),
            "P4": lambda: engine_figures.p4_server_side(engine),
            "P7": lambda: engine_figures.p7_harvest(engine, quick),
            "P8": lambda: engine_figures.p8_batched_sweep(engine, quick),
            "P10": lambda: engine_figures.p10_decode_bound(engine, quick),
            "P11": lambda: distil_figures.p11_distil_step(engine, quick),
            "P12": lambda: stream_figures.p12_first_token(engine, sae, quick),
        }
        for fid in sorted(engine_ids, key=IDS.index):
            start = time.perf_counter()
            try:
                got = steps[fid]()
                figures += got if isinstance(got, list) else [got]
            except Exception as err:  # one broken figure is reported as such; the others are still measured
                figures.append(Figure(fid, "failed", None, None, "report", note=f"{type(err).__name__}: {err}"))
            spent[fid] = round(time.perf_counter() - start, 1)
            log(f"{fid}: {figures[-1].value} (target {figures[-1].kind} {figures[-1].target}) in {spent[fid]:.0f} s")
        del engine
    if "P5" in ids:
        start = time.perf_counter()
        figures += app_figures.p5_start(quick)
        spent["P5"] = round(time.perf_counter() - start, 1)
        log(f"P5: {figures[-2].value} s warm, {figures[-1].value} s cold in {spent['P5']:.0f} s")
    if ids & {"P4", "P6", "P9"}:
        start = time.perf_counter()
        figures += [f for f in app_figures.app_workload(quick) if f.id in ids]
        spent["app"] = round(time.perf_counter() - start, 1)
        log("P4/P6/P9: " + ", ".join(f"{f.id} {f.value} {f.unit}" for f in figures[-3:]) + f" in {spent['app']:.0f} s")
    return figures


def results_name(date: str, info: dict[str, Any], quick: bool, only: list[str] | None, gpu: bool) -> str:
    """`<date>-<host>[-quick][-ids].json` for a CPU run; `<date>-<gpu>-gpu[-quick][-ids].json` for a GPU one. A
    partial run (--only) never replaces a whole one: it is named after its ids, and the README ignores it."""
    who = f"{slug(info['gpu'])}-gpu" if gpu else info["host"]
    part = f"-{'-'.join(only)}" if only else ""
    return f"{date}-{who}{'-quick' if quick else ''}{part}.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the short run (under 10 minutes on 2 cores)")
    parser.add_argument("--only", help="comma-separated ids, e.g. P1,P8")
    parser.add_argument("--gpu", action="store_true", help=f"the GPU column: {', '.join(GPU_IDS)} on cuda in bf16")
    parser.add_argument("--readme", action="store_true", help="rewrite README's Performance section and stop")
    args = parser.parse_args(argv)
    if args.readme:
        print(f"README Performance section written from {write_readme(ROOT, RESULTS)}")
        return
    if args.gpu and not torch.cuda.is_available():
        parser.exit(2, NO_CUDA.format(torch=torch.__version__) + "\n")
    valid = GPU_IDS if args.gpu else IDS
    ids = set(valid) if not args.only else {s.strip().upper() for s in args.only.split(",")}
    unknown = ids - set(valid)
    if unknown:
        raise SystemExit(f"unknown ids {sorted(unknown)}{' for --gpu' if args.gpu else ''}; valid: {', '.join(valid)}")
    started = time.perf_counter()
    durations: dict[str, float] = {}
    loaded: dict[str, str] = {}
    figures = [f.to_dict() for f in measure(ids, args.quick, durations=durations, gpu=args.gpu, loaded=loaded)]
    info = gpu_machine() if args.gpu else machine()
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "machine": info,
        "device": loaded.get("device", "cuda" if args.gpu else "cpu"),
        "dtype": loaded.get("dtype"),
        "quick": args.quick,
        "only": sorted(ids, key=IDS.index) if args.only else None,
        "seconds": round(time.perf_counter() - started),
        "stage_seconds": durations,
        "figures": figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / results_name(record["date"], info, args.quick, record["only"], args.gpu)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(figures))
    where = f"{info['gpu']} (bf16)" if args.gpu else f"{info['cpu']} ({info['cores']} cores)"
    print(f"\n{len(figures)} figures in {record['seconds']} s on {where}; written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
