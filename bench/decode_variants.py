"""Cheaper or compiled b1 decoding on this CPU, each measured against fp32 eager in the same run: speed, and how far
its logits move (max |Δ logit| over a prompt, and whether the greedy answer stays the same).

    python -m bench.decode_variants [--tokens 32] [--compile]

Variants: bf16 weights; dynamic int8 quantisation of the linear layers (`torch.ao.quantization.quantize_dynamic`,
what CPU inference of small transformers commonly uses); with `--compile`, `torch.compile` (inductor) of the
forward with a static KV cache, HF's recommended compiled decode, with its compile time. A variant is worth adopting
only if it is faster and keeps the greedy answers (the studies' verdicts are made on greedy text), and, for the app,
if it does not cost a compile per new prompt shape. `bench.profiles` records the same measurement in bench/results/.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
from typing import Any

import torch

from bench.timing import paired_best
from saif_ui.engine import Engine, EngineConfig
from saif_ui.saif.inputs.contents import load_contents


def greedy(model: torch.nn.Module, ids: torch.Tensor, n_new: int, **kw: Any) -> list[int]:
    out = model.generate(  # type: ignore[operator]
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=n_new,
        min_new_tokens=n_new,
        do_sample=False,
        **kw,
    )
    return [int(t) for t in out[0, ids.shape[1] :]]


def measure(engine: Engine, n: int = 32, compiled: bool = False) -> dict[str, Any]:
    """Each variant's tok/s, speed against fp32, largest logit difference and greedy answers kept (of 4)."""
    base = engine.model
    variants: dict[str, torch.nn.Module] = {"fp32": base, "bf16": copy.deepcopy(base).to(torch.bfloat16)}
    notes: dict[str, Any] = {}
    try:
        variants["int8_dynamic"] = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(base), {torch.nn.Linear}, dtype=torch.qint8
        )
    except (RuntimeError, AssertionError) as err:  # no quantised kernels on this CPU build
        notes["int8_dynamic"] = f"unavailable: {err}"
    prompts = [engine.render(c.text + "\n\nTranslate the text into French.") for c in load_contents("validation")[:4]]
    ids = [engine.tokenizer(p, return_tensors="pt", add_special_tokens=False)["input_ids"] for p in prompts]
    kwargs: dict[str, dict[str, Any]] = {name: {} for name in variants}
    if compiled:
        # A fresh inductor cache, so the compile time is what a new server pays (a warm on-disk cache from an
        # earlier run cut it from 87 s to 24 s on the 2-core machine).
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="saif-inductor-")
        torch._dynamo.reset()
        model = copy.deepcopy(base)
        model.forward = torch.compile(model.forward, dynamic=False)  # type: ignore[method-assign]
        start = time.perf_counter()
        greedy(model, ids[0], n, cache_implementation="static")
        notes["compiled_first_call_s"] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        greedy(model, ids[1], n, cache_implementation="static")  # another prompt length: another compile
        notes["compiled_new_prompt_length_s"] = round(time.perf_counter() - start, 1)
        notes["inductor_cache"] = "fresh"
        variants["compiled_static_cache"] = model
        kwargs["compiled_static_cache"] = {"cache_implementation": "static"}
    ref_logits = [base(input_ids=i).logits.float() for i in ids]
    ref_answers = [greedy(base, i, n) for i in ids]
    times = paired_best({name: (lambda m=m, k=kwargs[name]: greedy(m, ids[0], n, **k)) for name, m in variants.items()})
    out: dict[str, Any] = {"new_tokens": n, "variants": {}, "notes": notes}
    for name, model in variants.items():
        diff = max(
            float((model(input_ids=i).logits.float() - r).abs().max()) for i, r in zip(ids, ref_logits, strict=True)
        ) if name != "compiled_static_cache" else None  # fmt: skip
        # The compiled model is checked on the two prompts it was compiled for (each new length recompiles it).
        checked = 2 if name == "compiled_static_cache" else len(ids)
        same = sum(greedy(model, i, n, **kwargs[name]) == a for i, a in zip(ids[:checked], ref_answers, strict=False))
        out["variants"][name] = {
            "tok_s": round(n / times[name], 1),
            "speed_vs_fp32": round(times["fp32"] / times[name], 2),
            "max_abs_logit_diff": None if diff is None else round(diff, 3),
            "greedy_answers_equal": f"{same}/{checked}",
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--compile", action="store_true", help="also torch.compile (minutes of compiling)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    engine = Engine.load(EngineConfig.from_env(saes=[]))
    print(json.dumps(measure(engine, args.tokens, args.compile), indent=2))


if __name__ == "__main__":
    main()
