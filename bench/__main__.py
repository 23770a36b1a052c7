"""Every performance figure of saif_ui in one run: ratios measured side by side (best of >= 3) on this machine.

    python -m bench [--quick] [--only P1,P2,...] [--readme]

Writes `bench/results/<date>-<machine>.json` (per id: value, target, met, raw timings) and prints a table.
`--readme` rewrites the README's Performance section from the newest results file (no measuring). `--quick` keeps the
run under ten minutes on a 2-core CPU (fewer contents, shorter outputs). P3 (sae-lens on TransformerLens) is
sae-lens's HookedSAETransformer on TransformerLens, built as bench/sae_lens_path.py says.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from bench import app_figures, distil_figures, engine_figures, sae_lens_path, stream_figures
from bench.readme import table, write_readme
from bench.timing import Figure

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
IDS = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P11", "P12")


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


def measure(ids: set[str], quick: bool, log: Any = print, durations: dict[str, float] | None = None) -> list[Figure]:
    """Every figure in `ids`; `durations` (when given) receives each stage's wall seconds, so a slow run shows where
    its minutes went."""
    from saif_ui.engine import Engine, EngineConfig

    spent = durations if durations is not None else {}

    figures: list[Figure] = []
    engine_ids = ids & {"P1", "P2", "P3", "P4", "P7", "P8", "P10", "P11", "P12"}
    if engine_ids:
        torch.set_grad_enabled(False)
        engine = Engine.load(EngineConfig.from_env())
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the short run (under 10 minutes on 2 cores)")
    parser.add_argument("--only", help="comma-separated ids, e.g. P1,P8")
    parser.add_argument("--readme", action="store_true", help="rewrite README's Performance section and stop")
    args = parser.parse_args()
    if args.readme:
        print(f"README Performance section written from {write_readme(ROOT, RESULTS)}")
        return
    ids = set(IDS) if not args.only else {s.strip().upper() for s in args.only.split(",")}
    unknown = ids - set(IDS)
    if unknown:
        raise SystemExit(f"unknown ids {sorted(unknown)}; valid: {', '.join(IDS)}")
    started = time.perf_counter()
    durations: dict[str, float] = {}
    figures = [f.to_dict() for f in measure(ids, args.quick, durations=durations)]
    info = machine()
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "machine": info,
        "quick": args.quick,
        "only": sorted(ids, key=IDS.index) if args.only else None,
        "seconds": round(time.perf_counter() - started),
        "stage_seconds": durations,
        "figures": figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    # A partial run (--only) never replaces a whole one: it is named after its ids, and the README ignores it.
    part = f"-{'-'.join(record['only'])}" if record["only"] else ""
    path = RESULTS / f"{record['date']}-{info['host']}{'-quick' if args.quick else ''}{part}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(figures))
    print(f"\n{len(figures)} figures in {record['seconds']} s on {info['cpu']} ({info['cores']} cores); "
          f"written to {path.relative_to(ROOT)}")  # fmt: skip


if __name__ == "__main__":
    main()
