"""FAST's special-token intervention: steer with a latent that fires on chat-template tokens, over an α grid.

FAST (§4 of the paper) shows that such latents, whose activations are 10-100x larger than content latents', change
the style and quality of the answer when added. We steer with the latent's unit decoder direction × α, so α is the
activation it is clamped to (for TopK SAEs with decoder-norm rescaling one activation unit writes the unit direction),
on the paper's grid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.saif.compare import Decoding, judge
from saif_ui.saif.discovery import resolve_instruction
from saif_ui.saif.prompts import build_prompt
from saif_ui.saif.steer import SteeringSpec, SteerLatent

GRID_DECODING = Decoding(max_new_tokens=48)
PAPER_ALPHAS: tuple[float, ...] = (0.0, 15.0, 25.0, 50.0, 100.0, 150.0, 200.0)


def special_latents(engine: Engine, sae_name: str) -> dict[str, list[dict[str, Any]]]:
    """Special-token latents of an SAE from the quality report shipped beside it (`report.json`): token -> latents
    ranked by mean max activation. Empty when the SAE has no report (e.g. one from the hub)."""
    source = Path(engine.sae(sae_name).source)
    report = source / "report.json" if source.is_dir() else None
    if report is None or not report.is_file():
        return {}
    data = json.loads(report.read_text(encoding="utf-8"))
    return dict(data.get("special_token_latents") or {})


def default_special_latent(engine: Engine, sae_name: str) -> tuple[int, str]:
    """The latent with the largest mean max activation on any special token, and that token."""
    table = special_latents(engine, sae_name)
    best = max(
        ((row["id"], token, row["avg_max"]) for token, rows in table.items() for row in rows),
        key=lambda x: x[2],
        default=None,
    )
    if best is None:
        raise ValueError(f"{sae_name} has no special-token report; give the latent id explicitly")
    return int(best[0]), str(best[1])


def special_token_grid(
    engine: Engine,
    sae_name: str,
    content: str,
    latent: int | None = None,
    alphas: Sequence[float] = PAPER_ALPHAS,
    *,
    positions: str = "all",
    decoding: Decoding = GRID_DECODING,
    instruction: str | None = None,
) -> dict[str, Any]:
    """Answers to `content` (no instruction) with the special-token latent added at each α.

    With `instruction` (a catalogue id), each output also gets that instruction's verdicts, to see whether the
    intervention moves compliance. Returns `{"sae", "layer", "latent", "token", "rows": [{"alpha", "text", ...}]}`.
    """
    token = ""
    if latent is None:
        latent, token = default_special_latent(engine, sae_name)
    sae = engine.sae(sae_name)
    if not 0 <= latent < sae.d_sae:
        raise ValueError(f"latent {latent} is out of range for {sae_name} (0..{sae.d_sae - 1})")
    prompt = build_prompt(engine.chat, content, None, "none").text
    base = SteeringSpec(
        latents=(SteerLatent(sae=sae_name, layer=sae.layer, latent=latent),),
        scale="unit",
        positions=positions,  # type: ignore[arg-type]
    )
    texts, finished = [], []
    for a in alphas:
        g = engine.generate(
            [prompt], base.with_alpha(a).steerings(engine), max_new_tokens=decoding.max_new_tokens, seed=decoding.seed
        )[0]
        texts.append(g.text)
        finished.append(g.finished)
    instr = resolve_instruction(instruction) if instruction else None
    judged = judge(engine, instr, texts, finished, [str(a) for a in alphas]) if instr else None
    rows = []
    for i, a in enumerate(alphas):
        row: dict[str, Any] = {"alpha": float(a), "text": texts[i], "finished": finished[i]}
        if judged:
            row.update(strict=judged[i].strict, loose=judged[i].loose)
        rows.append(row)
    return {"sae": sae_name, "layer": sae.layer, "latent": latent, "token": token, "content": content, "rows": rows}
