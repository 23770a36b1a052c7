"""Where b1 decoding's time goes (the evidence behind P10): HF `generate` vs a bare KV-cached forward loop, and a
torch.profiler table of one decode run by operator.

    python -m bench.decode_profile [--tokens 32] [--rows 15]

If the matrix products (aten::mm / addmm / linear) take most of the time, decode is bound by reading the weights
and the gap to the copy-bandwidth bound is the GEMV kernels' efficiency; if the rest (norms, rotary, attention,
Python between ops) dominates, the gap is overhead that a compiled or fused decode step would remove.
`bench.profiles` records the same measurement in bench/results/.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from bench.engine_figures import _fixed_length_generate, copy_bandwidth
from bench.timing import best_of
from saif_ui.engine import Engine, EngineConfig
from saif_ui.saif.inputs.contents import load_contents

MATMULS = ("aten::mm", "aten::addmm", "aten::bmm")


def bare_loop(engine: Engine, prompt: str, n_new: int) -> None:
    """Greedy decode with the model's own forward and KV cache, no `generate` machinery."""
    ids = engine.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = engine.model(input_ids=ids, use_cache=True)
        past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(n_new - 1):
            out = engine.model(input_ids=nxt, past_key_values=past, use_cache=True)
            past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)


def measure(engine: Engine, n: int = 32, rows: int = 15) -> tuple[dict[str, Any], str]:
    """The decode profile as a record, and torch.profiler's table of the top `rows` operators."""
    prompt = engine.render(load_contents("validation")[0].text)
    t_generate = best_of(lambda: _fixed_length_generate(engine, [prompt], None, n))
    t_bare = best_of(lambda: bare_loop(engine, prompt, n))
    t_prefill = best_of(lambda: bare_loop(engine, prompt, 1))
    per_token = (t_bare - t_prefill) / (n - 1)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        bare_loop(engine, prompt, n)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMULS)
    share = matmul / total
    weight_bytes = sum(p.numel() * p.element_size() for p in engine.model.parameters())
    bandwidth = copy_bandwidth()
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:rows]
    record = {
        "new_tokens": n,
        "generate_s": round(t_generate, 3),
        "bare_loop_s": round(t_bare, 3),
        "prefill_s": round(t_prefill, 3),
        "ms_per_token": round(1000 * per_token, 2),
        "generate_overhead": round(t_generate / t_bare - 1, 3),
        "matmul_share": round(share, 3),
        # The weights stream through the matrix products once per token: their effective bandwidth against what a
        # plain copy reaches says how far the GEMV kernels are from the memory limit.
        "matmul_gb_s": round(weight_bytes / (per_token * share) / 1e9, 2),
        "copy_gb_s": round(bandwidth / 1e9, 2),
        "weight_mb": round(weight_bytes / 2**20),
        "top_ops": [
            {
                "op": e.key,
                "self_ms": round(e.self_cpu_time_total / 1000, 1),
                "share": round(e.self_cpu_time_total / total, 3),
            }
            for e in top
        ],
    }
    return record, events.table(sort_by="self_cpu_time_total", row_limit=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rows", type=int, default=15)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    engine = Engine.load(EngineConfig.from_env(saes=[]))
    r, table = measure(engine, args.tokens, args.rows)
    print(f"generate {r['generate_s']} s, bare KV loop {r['bare_loop_s']} s, prefill {r['prefill_s']} s for "
          f"{args.tokens} tokens; bare decode {r['ms_per_token']} ms/token; generate overhead "
          f"{100 * r['generate_overhead']:.0f}%")  # fmt: skip
    print(f"matrix products: {100 * r['matmul_share']:.0f}% of self CPU time, streaming the weights at "
          f"{r['matmul_gb_s']} GB/s (a copy: {r['copy_gb_s']} GB/s)")  # fmt: skip
    print(table)


if __name__ == "__main__":
    main()
