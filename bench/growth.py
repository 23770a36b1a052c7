"""How cost grows with work, in one run: discovery time vs the number of prompt pairs, steered generation time vs
output length with the KV cache and with full recompute, and memory vs the encode cache's budget.

    python -m bench.growth [--quick]

Writes `bench/results/growth-<date>-<machine>.json` (every timing) and the figure beside it (`.png`), which the
README's Performance section shows. Times are best of 3; each curve is measured in this one run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from bench.engine_figures import _fixed_length_generate, _push, discovery_prompts
from bench.timing import best_of
from saif_ui.engine import Engine, EngineConfig
from saif_ui.engine.cache import ByteLRU
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import discover
from saif_ui.saif.inputs.contents import load_contents

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MB = 2**20


def discovery_curve(engine: Engine, sae: str, sizes: tuple[int, ...]) -> list[dict[str, float]]:
    """Seconds of one discovery (encode + SAE + scoring, caches off) at each number of pairs."""
    saved, engine.cache = engine.cache, ByteLRU(0)
    try:
        out = []
        for n in sizes:
            cfg = DiscoveryConfig(n_contents=n)
            seconds = best_of(lambda cfg=cfg: discover(engine, "french", sae, cfg, use_cache=False))
            out.append({"pairs": n, "seconds": round(seconds, 3), "pairs_per_s": round(n / seconds, 2)})
        return out
    finally:
        engine.cache = saved


def length_curve(engine: Engine, lengths: tuple[int, ...]) -> list[dict[str, float]]:
    """Seconds of one steered b1 greedy answer of each length (EOS ignored), KV-cached vs full recompute."""
    prompt = [engine.render(load_contents("validation")[0].text)]
    steer = _push(engine, 20)
    out = []
    for n in lengths:
        kv = best_of(lambda n=n: _fixed_length_generate(engine, prompt, steer, n))
        recompute = best_of(lambda n=n: _fixed_length_generate(engine, prompt, steer, n, use_cache=False))
        out.append({"new_tokens": n, "kv_s": round(kv, 3), "recompute_s": round(recompute, 3)})
    return out


def rss_bytes() -> int:
    """This process's resident memory now (Linux /proc; the high-water mark of getrusage cannot go down)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


def cache_curve(engine: Engine, sae: str, budgets_mb: tuple[int, ...], n_prompts: int) -> list[dict[str, float]]:
    """Encode `n_prompts` distinct prompts (residual + SAE latents) twice under each encode-cache budget: the bytes
    the cache holds, resident memory, and how much faster the second pass is (what the memory buys)."""
    prompts = discovery_prompts(engine, n_prompts // 2)[:n_prompts]
    layer = engine.sae(sae).layer
    saved = engine.cache
    out = []
    try:
        for budget in budgets_mb:
            engine.cache = ByteLRU(budget * MB)
            before = rss_bytes()
            start = time.perf_counter()
            engine.encode(prompts, layers=[layer], saes=[sae])
            first = time.perf_counter() - start
            hits, misses = engine.cache.hits, engine.cache.misses
            start = time.perf_counter()
            engine.encode(prompts, layers=[layer], saes=[sae])
            second = time.perf_counter() - start
            hits, misses = engine.cache.hits - hits, engine.cache.misses - misses
            out.append(
                {
                    "budget_mb": budget,
                    "held_mb": round(engine.cache.nbytes / MB, 1),
                    "rss_growth_mb": round((rss_bytes() - before) / MB, 1),
                    "first_pass_s": round(first, 3),
                    "second_pass_s": round(second, 3),
                    "repeat_hit_share": round(hits / max(1, hits + misses), 3),
                }
            )
            engine.cache = ByteLRU(0)  # free this budget's tensors before the next is measured
    finally:
        engine.cache = saved
    return out


def plot(record: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    d = record["discovery"]
    axes[0].plot([r["pairs"] for r in d], [r["seconds"] for r in d], "o-")
    axes[0].set(xlabel="prompt pairs", ylabel="seconds", title=f"Discovery at L{record['layer']} (caches off)")
    g = record["generation"]
    axes[1].plot([r["new_tokens"] for r in g], [r["kv_s"] for r in g], "o-", label="KV cache (saif_ui)")
    axes[1].plot([r["new_tokens"] for r in g], [r["recompute_s"] for r in g], "s--", label="full recompute")
    axes[1].set(xlabel="new tokens", ylabel="seconds", title="Steered b1 answer vs length")
    axes[1].legend()
    c = record["cache"]
    budgets = [r["budget_mb"] for r in c]
    axes[2].plot(budgets, budgets, ":", color="black", linewidth=0.8, label="the budget")
    axes[2].plot(budgets, [r["held_mb"] for r in c], "o-", label="held by the encode cache")
    axes[2].plot(budgets, [r["rss_growth_mb"] for r in c], "s--", label="resident memory growth")
    axes[2].set(xlabel="encode-cache budget (MB)", ylabel="MB", title=f"Memory vs budget ({record['prompts']} prompts)")
    twin = axes[2].twinx()
    twin.plot(budgets, [r["second_pass_s"] for r in c], "^:", color="gray", label="repeat pass (s)")
    twin.set_ylabel("repeat pass seconds")
    axes[2].legend(loc="upper left")
    twin.legend(loc="center right")
    fig.suptitle(f"{record['machine']} · commit {record['commit']} · {record['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    from bench.__main__ import commit, machine

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about four minutes on 2 cores)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    started = time.perf_counter()
    engine = Engine.load(EngineConfig.from_env())
    sae = next((n for n in engine.sae_names() if "L24" in n), engine.sae_names()[-1])
    sizes = (4, 8, 16, 32) if args.quick else (4, 8, 16, 32, 64)
    lengths = (16, 32, 64, 128) if args.quick else (16, 32, 64, 128, 256)
    budgets, n_prompts = (0, 16, 64, 256), 64 if args.quick else 128
    info = machine()
    record: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "machine": f"{info['cpu']}, {info['cores']} cores, torch {info['torch']} ({info['torch_threads']} threads)",
        "quick": args.quick,
        "layer": engine.sae(sae).layer,
        "prompts": n_prompts,
    }
    record["discovery"] = discovery_curve(engine, sae, sizes)
    print("discovery:", record["discovery"], flush=True)
    record["generation"] = length_curve(engine, lengths)
    print("generation:", record["generation"], flush=True)
    record["cache"] = cache_curve(engine, sae, budgets, n_prompts)
    print("cache:", record["cache"], flush=True)
    record["seconds"] = round(time.perf_counter() - started)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"growth-{record['date']}-{info['host']}{'-quick' if args.quick else ''}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot(record, stem.with_suffix(".png"))
    print(f"written {stem.with_suffix('.json').relative_to(ROOT)} and .png in {record['seconds']} s")


if __name__ == "__main__":
    main()
