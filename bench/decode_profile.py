"""Where b1 decoding's time goes (the evidence behind P10): HF `generate` vs a bare KV-cached forward loop, and a
torch.profiler table of one decode run by operator.

    python -m bench.decode_profile [--tokens 32] [--rows 15]

If the matrix products (aten::mm / addmm / linear) take most of the time, decode is bound by reading the weights
and the gap to the copy-bandwidth bound is the GEMV kernels' efficiency; if the rest (norms, rotary, attention,
Python between ops) dominates, the gap is overhead that a compiled or fused decode step would remove.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from bench.engine_figures import _fixed_length_generate
from bench.timing import best_of
from saif_ui.engine import Engine, EngineConfig
from saif_ui.saif.inputs.contents import load_contents


def bare_loop(engine: Engine, prompt: str, n_new: int) -> None:
    """Greedy decode with the model's own forward and KV cache, no `generate` machinery."""
    ids = engine.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = engine.model(input_ids=ids, use_cache=True)
        past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(n_new - 1):
            out = engine.model(input_ids=nxt, past_key_values=past, use_cache=True)
            past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rows", type=int, default=15)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    engine = Engine.load(EngineConfig.from_env(saes=[]))
    prompt = engine.render(load_contents("validation")[0].text)
    n = args.tokens
    t_generate = best_of(lambda: _fixed_length_generate(engine, [prompt], None, n))
    t_bare = best_of(lambda: bare_loop(engine, prompt, n))
    t_prefill = best_of(lambda: bare_loop(engine, prompt, 1))
    per_token = (t_bare - t_prefill) / (n - 1)
    print(f"generate {t_generate:.3f} s, bare KV loop {t_bare:.3f} s, prefill {t_prefill:.3f} s for {n} tokens")
    print(f"bare decode: {1000 * per_token:.1f} ms/token ({1 / per_token:.1f} tok/s); generate overhead "
          f"{100 * (t_generate / t_bare - 1):.0f}%")  # fmt: skip
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        bare_loop(engine, prompt, n)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key in ("aten::mm", "aten::addmm", "aten::bmm"))
    print(f"matrix products: {100 * matmul / total:.0f}% of self CPU time; the rest: {100 * (1 - matmul / total):.0f}%")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
