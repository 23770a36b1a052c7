"""Load on the served app: many visitors mixing discover, steer, sweep, latent cards and exports, in one run.

    python -m bench.load [--requests 300] [--clients 8] [--json]

Starts `python app.py` (the embedded model and the shipped SAEs) as a subprocess, sends
`--requests` requests from `--clients` gradio_client sessions at once, and prints: requests, failures, latency p50 /
p95 per kind, and the server's resident memory after start, after warm-up (the first fifth of the requests) and at
the end. The server's caches are all bounded in bytes, so memory should stop growing once they are warm: the
target is growth ≤ 10% from warm-up to the end. Writes `bench/results/load-<date>-<host>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from gradio_client import Client

from bench.app_figures import Server

ROOT = Path(__file__).resolve().parents[1]
SAE = "L24_fast_topk64"
INSTRUCTIONS = ("french", "spanish", "german")
CONTENTS = (
    "The cat sat on the mat and looked at the rain.",
    "Our train leaves at nine, so we should pack tonight.",
    "Bread rises because yeast makes gas in the dough.",
)
KINDS = ("discover", "steer", "sweep", "card", "export")


class Visitor:
    """One browser tab: discovers once per instruction, then steers, sweeps, opens cards and exports."""

    def __init__(self, url: str, seed: int) -> None:
        self.client = Client(url, verbose=False)
        self.rng = random.Random(seed)
        self.top: dict[str, list[str]] = {}

    def request(self, kind: str) -> None:
        instruction = self.rng.choice(INSTRUCTIONS)
        prompt = {"instruction": instruction, "content": self.rng.choice(CONTENTS)}
        if kind == "discover" or instruction not in self.top:
            _, table, _ = self.client.predict(
                instruction=instruction, sae=SAE, n_contents=8, top_k=10, api_name="/discover"
            )
            self.top[instruction] = [str(row[1]) for row in table["data"][:5]]
            if kind == "discover":
                return
        latents = self.top[instruction][: self.rng.choice((1, 3, 5))]
        steer = {**prompt, "sae": SAE, "latents": latents, "alpha": self.rng.choice((0.5, 1.0, 2.0))}
        if kind == "steer":
            self.client.predict(**steer, max_new_tokens=16, api_name="/steer")
        elif kind == "sweep":
            self.client.predict(**steer, alphas="0, 1", n_contents=2, max_new_tokens=8, api_name="/sweep")
        elif kind == "card":
            self.client.predict(sae=SAE, latent=int(self.rng.choice(latents)), api_name="/latent_card")
        else:
            self.client.predict(**steer, api_name="/export_json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    server = Server()
    start_seconds = server.start()
    try:
        result = run(server, args.requests, args.clients)
    finally:
        server.stop()
    result["server_start_s"] = round(start_seconds, 1)
    out = ROOT / "bench" / "results" / f"load-{time.strftime('%Y-%m-%d')}-{platform.node() or 'machine'}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2) if args.json else report(result))
    print(f"written to {out.relative_to(ROOT)}")


def run(server: Server, n_requests: int, n_clients: int) -> dict[str, Any]:
    visitors = [Visitor(server.url, seed) for seed in range(n_clients)]
    plan = [KINDS[i % len(KINDS)] for i in range(n_requests)]
    random.Random(0).shuffle(plan)
    warm_at = max(1, n_requests // 5)
    lock = threading.Lock()
    latencies: dict[str, list[float]] = defaultdict(list)
    failures: list[str] = []
    memory = {"after_start": server.rss()}
    done = [0]
    peak = [memory["after_start"]]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], server.rss())
            stop.wait(0.1)

    def work(visitor: Visitor, kinds: list[str]) -> None:
        for kind in kinds:
            start = time.perf_counter()
            try:
                visitor.request(kind)
            except Exception as err:  # a failure of any kind is what this benchmark counts
                with lock:
                    failures.append(f"{kind}: {type(err).__name__}: {str(err)[:200]}")
            with lock:
                latencies[kind].append(time.perf_counter() - start)
                done[0] += 1
                if done[0] == warm_at:
                    memory["after_warmup"] = server.rss()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    shares = [plan[i::n_clients] for i in range(n_clients)]
    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(v, s)) for v, s in zip(visitors, shares, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    memory["at_end"] = server.rss()
    memory["peak"] = peak[0]
    growth = memory["at_end"] / memory["after_warmup"] - 1
    every = [x for v in latencies.values() for x in v]
    return {
        "machine": {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "requests": len(every),
        "clients": n_clients,
        "failures": len(failures),
        "failure_samples": failures[:10],
        "wall_s": round(wall, 1),
        "latency_s": {k: pcts(v) for k, v in sorted(latencies.items())} | {"all": pcts(every)},
        "memory_mb": {k: round(v / 2**20) for k, v in memory.items()},
        "memory_growth_after_warmup": round(growth, 4),
        "target_growth": 0.10,
        "met": growth <= 0.10 and not failures,
    }


def pcts(values: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else values * 19
    return {"n": len(values), "p50": round(statistics.median(values), 3), "p95": round(qs[18], 3)}


def report(r: dict[str, Any]) -> str:
    lines = [
        f"{r['requests']} requests from {r['clients']} clients in {r['wall_s']} s: {r['failures']} failures",
        *(f"  {k:9s} n={v['n']:4d}  p50 {v['p50']:7.3f} s  p95 {v['p95']:7.3f} s" for k, v in r["latency_s"].items()),
        "server memory (MB): " + ", ".join(f"{k} {v}" for k, v in r["memory_mb"].items()),
        f"growth after warm-up: {100 * r['memory_growth_after_warmup']:.1f}% (target ≤ 10%): "
        + ("met" if r["met"] else "NOT met"),
    ]
    lines += [f"  failure: {f}" for f in r["failure_samples"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
