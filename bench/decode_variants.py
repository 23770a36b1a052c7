"""Cheaper weights for b1 decoding on this CPU, each measured against fp32 in the same run: speed, and how far its
logits move (max |Δ logit| over a prompt, and whether the greedy answer stays the same).

    python -m bench.decode_variants [--tokens 32]

Variants: bf16 weights, and dynamic int8 quantisation of the linear layers (`torch.ao.quantization.quantize_dynamic`,
what CPU inference of small transformers commonly uses). A variant is worth adopting only if it is faster and keeps
the greedy answers: the studies' verdicts are made on greedy text.
"""

from __future__ import annotations

import argparse
import copy
import json

import torch

from bench.timing import paired_best
from saif_ui.engine import Engine, EngineConfig
from saif_ui.saif.inputs.contents import load_contents


def greedy(model: torch.nn.Module, ids: torch.Tensor, n_new: int) -> list[int]:
    out = model.generate(  # type: ignore[operator]
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False
    )
    return [int(t) for t in out[0, ids.shape[1] :]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    engine = Engine.load(EngineConfig.from_env(saes=[]))
    base = engine.model
    variants = {"fp32": base, "bf16": copy.deepcopy(base).to(torch.bfloat16)}
    try:
        variants["int8_dynamic"] = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(base), {torch.nn.Linear}, dtype=torch.qint8
        )
    except (RuntimeError, AssertionError) as err:  # no quantised kernels on this CPU build
        print(f"int8 dynamic quantisation unavailable: {err}")
    prompts = [engine.render(c.text + "\n\nTranslate the text into French.") for c in load_contents("validation")[:4]]
    ids = [engine.tokenizer(p, return_tensors="pt", add_special_tokens=False)["input_ids"] for p in prompts]
    ref_logits = [base(input_ids=i).logits.float() for i in ids]
    ref_answers = [greedy(base, i, args.tokens) for i in ids]
    times = paired_best({name: (lambda m=m: greedy(m, ids[0], args.tokens)) for name, m in variants.items()})
    out = {}
    for name, model in variants.items():
        diff = max(
            float((model(input_ids=i).logits.float() - r).abs().max()) for i, r in zip(ids, ref_logits, strict=True)
        )
        same = sum(greedy(model, i, args.tokens) == a for i, a in zip(ids, ref_answers, strict=True))
        out[name] = {
            "tok_s": round(args.tokens / times[name], 1),
            "speed_vs_fp32": round(times["fp32"] / times[name], 2),
            "max_abs_logit_diff": round(diff, 3),
            "greedy_answers_equal": f"{same}/{len(ids)}",
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
