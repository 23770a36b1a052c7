"""Engine speed on this machine, measured in one run: load (cold/warm), encode vs full forward, generate ± steering.

    python -m bench.engine_speed [--skip-cold] [--json]

Prints absolute numbers and the ratios the engine is designed for (encode stopped at a middle layer vs a full
forward; steered vs plain generation). Numbers depend on the machine; compare ratios, not seconds, across machines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

import torch

from saif_ui.engine import Engine, EngineConfig, Steering
from saif_ui.engine.model import load_model
from saif_ui.saif.inputs.contents import load_contents


def _best_of(fn, repeats: int = 3) -> float:
    """Best wall time of `repeats` runs (the least disturbed by other load on the machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold load (a ~25 s GGUF conversion)")
    parser.add_argument("--layer", type=int, default=15, help="layer for the truncated encode (default: the middle)")
    parser.add_argument("--batch", type=int, default=16, help="prompts per encode batch")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    out: dict[str, object] = {"threads": torch.get_num_threads()}

    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as tmp:
            cold = load_model(cache_dir=Path(tmp))
            warm = load_model(cache_dir=Path(tmp))
        out["load_cold_s"] = round(cold.load_seconds, 2)
        out["load_warm_s"] = round(warm.load_seconds, 2)
        out["load_cold_over_warm"] = round(cold.load_seconds / warm.load_seconds, 1)

    engine = Engine.load(EngineConfig.from_env(saes=[], encode_cache_bytes=0))  # cache off: measure the model
    prompts = [engine.render(c.text + "\n\nTranslate the text into French.") for c in load_contents()[: args.batch]]
    n_tokens = sum(len(engine.chat.tokenize(p)) for p in prompts)
    engine.encode(prompts[:2], layers=[args.layer])  # warm-up

    def full_forward() -> None:
        enc = engine.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        engine.model(**enc, use_cache=False)

    t_encode = _best_of(lambda: engine.encode(prompts, layers=[args.layer], batch_size=args.batch))
    t_full = _best_of(full_forward)
    out |= {
        "encode_tokens": n_tokens,
        f"encode_layer{args.layer}_tok_s": round(n_tokens / t_encode),
        "full_forward_tok_s": round(n_tokens / t_full),
        "encode_speedup_vs_full": round(t_full / t_encode, 2),
    }

    gen_prompts = [engine.render(c.text) for c in load_contents()[:4]]
    push = torch.randn(engine.d_model, generator=torch.Generator().manual_seed(0))
    steering = [Steering(20, push * 20 / push.norm(), "all")]
    for batch in (1, 4):
        ps = gen_prompts[:batch]
        results = {}
        for name, st in (("plain", None), ("steered", steering)):
            best = float("inf")
            n_new = 0
            for _ in range(2):
                gens = engine.generate(ps, st, max_new_tokens=32, reuse=False)
                best = min(best, gens[0].seconds)
                # Every row runs until the longest finishes, so count the batch's positions, not just kept tokens.
                n_new = batch * max(len(g.token_ids) + (1 if g.finished else 0) for g in gens)
            results[name] = n_new / best
        out[f"generate_b{batch}_tok_s"] = round(results["plain"], 1)
        out[f"generate_b{batch}_steered_tok_s"] = round(results["steered"], 1)
        out[f"generate_b{batch}_steered_over_plain"] = round(results["steered"] / results["plain"], 2)

    if args.json:
        print(json.dumps(out, indent=2))
    else:
        width = max(len(k) for k in out)
        for k, v in out.items():
            print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
