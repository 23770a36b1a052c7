"""The profiles behind the figures that miss their targets, recorded so the README can cite them.

    python -m bench.profiles [--compile]

Writes `bench/results/profile-<date>-<machine>.json`:
- `decode`: where b1 decoding's time goes (P10; `bench.decode_profile`);
- `variants`: bf16, int8 and (with `--compile`) torch.compile decoding against fp32 (`bench.decode_variants`);
- `sae_lens`: why discovery's speed-up over sae-lens (P3) is what it is: the work each path does (blocks run and
  LM head, from the model's own sizes) and each path's time per block at equal work.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from bench import decode_profile, decode_variants, sae_lens_path
from bench.engine_figures import discovery_prompts
from saif_ui.engine import Engine, EngineConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def sae_lens_work(engine: Engine, sae: str, quick: bool) -> dict[str, Any]:
    """P3 measured again, with the work of each path: the engine runs blocks 0..L and stops; sae-lens's full
    forward runs every block and the LM head. Their ratio of multiply-adds per token is the speed-up equal
    kernels would give; the rest is each path's speed per block (the `stop_at_layer` ratio)."""
    figure = sae_lens_path.p3_sae_lens(engine, sae, discovery_prompts(engine, 16 if quick else 48), quick)
    cfg = engine.model.config
    layer = engine.sae(sae).layer
    per_block = sum(p.numel() for p in engine.model.model.layers[0].parameters())
    head = cfg.vocab_size * cfg.hidden_size
    ours = (layer + 1) * per_block
    full = cfg.num_hidden_layers * per_block + head
    return {
        "p3": figure.value,
        "vs_stop_at_layer": figure.raw.get("vs_stop_at_layer"),
        "seconds": figure.raw.get("seconds"),
        "blocks_run": {"saif_ui": layer + 1, "sae_lens_full": cfg.num_hidden_layers},
        "lm_head_in_blocks": round(head / per_block, 2),
        "work_ratio_full_over_ours": round(full / ours, 3),
    }


def main() -> None:
    from bench.__main__ import commit, machine

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (minutes of compiling)")
    parser.add_argument("--quick", action="store_true", help="P3's 16 pairs instead of 48")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    started = time.perf_counter()
    info = machine()
    engine = Engine.load(EngineConfig.from_env())
    sae = next((n for n in engine.sae_names() if "L24" in n), engine.sae_names()[-1])
    record: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "commit": commit(), "machine": info}
    record["decode"], table = decode_profile.measure(engine)
    print(table, flush=True)
    record["variants"] = decode_variants.measure(engine, compiled=args.compile)
    print(json.dumps(record["variants"], indent=2), flush=True)
    record["sae_lens"] = sae_lens_work(engine, sae, args.quick)
    print(json.dumps(record["sae_lens"], indent=2), flush=True)
    record["seconds"] = round(time.perf_counter() - started)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"profile-{record['date']}-{info['host']}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {path.relative_to(ROOT)} in {record['seconds']} s")


if __name__ == "__main__":
    main()
