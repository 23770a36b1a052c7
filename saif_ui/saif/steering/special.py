"""FAST's special-token intervention: steer with a latent that fires on chat-template tokens, over an α grid.

FAST (§4 of the paper) shows that such latents, whose activations are 10-100x larger than content latents', change
the style and quality of the answer when added. We steer with the latent's unit decoder direction × α, so α is the
activation it is clamped to (for TopK SAEs with decoder-norm rescaling one activation unit writes the unit direction),
on the paper's grid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.discover import resolve_instruction
from saif_ui.saif.inputs.prompts import build_prompt
from saif_ui.saif.steering.compare import judge
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent

GRID_DECODING = Decoding(max_new_tokens=48)
PAPER_ALPHAS: tuple[float, ...] = (0.0, 15.0, 25.0, 50.0, 100.0, 150.0, 200.0)


@dataclass(frozen=True)
class GridRow:
    """The answer at one α; `strict`/`loose` when an instruction judged it."""

    alpha: float
    text: str
    finished: bool
    strict: bool | None = None
    loose: bool | None = None


@dataclass(frozen=True)
class SpecialGrid:
    """One special-token latent of one SAE added at each α of a grid to one content (no instruction)."""

    sae: str
    layer: int
    latent: int
    token: str
    content: str
    rows: tuple[GridRow, ...]
    judged: bool = False

    def to_dict(self) -> dict[str, Any]:
        rows = [{k: v for k, v in asdict(r).items() if self.judged or k not in ("strict", "loose")} for r in self.rows]
        return {
            "sae": self.sae,
            "layer": self.layer,
            "latent": self.latent,
            "token": self.token,
            "content": self.content,
            "rows": rows,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpecialGrid:
        """A grid from `to_dict()`; a malformed record is a ValueError."""
        try:
            rows = tuple(GridRow(**{k: r[k] for k in GridRow.__dataclass_fields__ if k in r}) for r in data["rows"])
            return cls(
                sae=str(data["sae"]),
                layer=int(data["layer"]),
                latent=int(data["latent"]),
                token=str(data.get("token", "")),
                content=str(data.get("content", "")),
                rows=rows,
                judged=any("strict" in r for r in data["rows"]),
            )
        except (KeyError, TypeError) as err:
            raise SaifError(f"not a special-token grid: missing or malformed field {err}") from None


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
        raise SaifError(f"{sae_name} has no special-token report; give the latent id explicitly")
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
    progress: Callable[[int, int], None] | None = None,
) -> SpecialGrid:
    """Answers to `content` (no instruction) with the special-token latent added at each α.

    With `instruction` (a catalogue id), each output also gets that instruction's verdicts, to see whether the
    intervention moves compliance. `progress(done, total)` is called after each α (it may raise to stop the grid).
    """
    token = ""
    if latent is None:
        latent, token = default_special_latent(engine, sae_name)
    sae = engine.sae(sae_name)
    if not 0 <= latent < sae.d_sae:
        raise SaifError(f"latent {latent} is out of range for {sae_name} (0..{sae.d_sae - 1})")
    prompt = build_prompt(engine.chat, content, None, "none").text
    base = SteeringSpec(
        latents=(SteerLatent(sae=sae_name, layer=sae.layer, latent=latent),),
        scale="unit",
        positions=positions,  # type: ignore[arg-type]
    )
    specs = [base.with_alpha(a) for a in alphas]  # every α is checked before the first generation
    texts, finished = [], []
    for spec in specs:
        g = engine.generate([prompt], spec.steerings(engine), decoding=decoding)[0]
        texts.append(g.text)
        finished.append(g.finished)
        if progress is not None:
            progress(len(texts), len(specs))
    instr = resolve_instruction(instruction) if instruction else None
    judged = judge(engine, instr, texts, finished, [str(a) for a in alphas]) if instr else None
    rows = tuple(
        GridRow(
            alpha=float(a),
            text=texts[i],
            finished=finished[i],
            strict=judged[i].strict if judged else None,
            loose=judged[i].loose if judged else None,
        )
        for i, a in enumerate(alphas)
    )
    return SpecialGrid(sae_name, sae.layer, latent, token, content, rows, judged=judged is not None)
