"""Two instructions at once, judged: every answer of a joint spec (`steering.joint`) checked by each instruction's
checker, its fidelity to the answer prompted with both, the weight grid on validation contents and the three answers
of one content. An answer *complies jointly* only when every checker passes; it is a *success* only when it also is
not a loop and keeps the content."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.records import from_fields
from saif_ui.engine.steering import Intervention
from saif_ui.engine.watch import Watch
from saif_ui.saif.discovery.discover import resolve_instruction
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.inputs.contents import Content
from saif_ui.saif.inputs.prompts import Placement, build_prompt
from saif_ui.saif.judge.checkers import check
from saif_ui.saif.judge.fidelity import fidelity, mismatched_pairing, threshold
from saif_ui.saif.judge.fluency import degeneration, perplexity
from saif_ui.saif.judge.stats import mcnemar_exact, wilson_interval
from saif_ui.saif.steering.compare import Progress, generate_rows
from saif_ui.saif.steering.evaluate import REPETITION_LIMIT
from saif_ui.saif.steering.joint import WEIGHTS, JointSpec, joint_wording

DEFAULT_DECODING = Decoding()

MAX_GRID_CELLS = 25
"""Weight combinations one sweep may ask for (5 × 5): each cell is a generation per content."""


@dataclass(frozen=True)
class JointOutput:
    """One answer judged by every instruction's checker."""

    id: str
    text: str
    verdicts: dict[str, bool]
    """Instruction id -> strict verdict of its checker."""
    repetition: float
    perplexity: float | None
    finished: bool
    chrf: float | None = None
    """chrF to the prompted (every instruction) answer to the same content; None until scored."""
    chrf_mismatched: float | None = None

    @property
    def strict(self) -> bool:
        """Every instruction's checker passes."""
        return all(self.verdicts.values())

    def fluent(self, limit: float = REPETITION_LIMIT) -> bool:
        return self.strict and self.repetition <= limit

    def success(self, tau: float | None, limit: float = REPETITION_LIMIT) -> bool:
        """Jointly compliant, not a loop and faithful (chrF to the prompted answer >= `tau`)."""
        return self.fluent(limit) and tau is not None and self.chrf is not None and self.chrf >= tau

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JointOutput:
        return from_fields(cls, data, "a joint output record")


def judge_joint(
    engine: Engine, instructions: Sequence[Instruction], texts: Sequence[str], finished: Sequence[bool],
    ids: Sequence[str],
) -> list[JointOutput]:  # fmt: skip
    """Every checker's verdict, the repetition and the perplexity of each answer."""
    missing = [i.id for i in instructions if not i.checker]
    if missing:
        raise SaifError(f"instructions without a checker cannot be judged jointly: {', '.join(missing)}")
    ppl = perplexity(engine, texts)
    return [
        JointOutput(
            id=cid,
            text=text,
            verdicts={i.id: check(str(i.checker), text).strict for i in instructions},
            repetition=degeneration(text),
            perplexity=p,
            finished=done,
        )
        for text, done, p, cid in zip(texts, finished, ppl, ids, strict=True)
    ]


Job = tuple[str, tuple[str, ...], JointSpec | None]
"""(name, the instructions the prompt gives, the joint spec that steers it or None)."""


def run_joint_jobs(
    engine: Engine,
    instructions: Sequence[Instruction | str],
    contents: Sequence[tuple[str, str]],
    jobs: Sequence[Job],
    *,
    placement: Placement = "post",
    decoding: Decoding = DEFAULT_DECODING,
    batch_size: int = 32,
    progress: Progress | None = None,
    system_prompt: bool | None = None,
    watch: Watch | None = None,
) -> dict[str, list[JointOutput]]:
    """Every job's answers to every (id, text) content in one sequence of batches (each row its own steering),
    judged by every instruction's checker. Fidelity is not scored here (`score_fidelity`). `watch` follows the
    answers as they grow, job after job (`generate_rows`)."""
    instrs = [resolve_instruction(i) for i in instructions]
    names = [name for name, _, _ in jobs]
    if len(set(names)) != len(names):
        raise SaifError(f"job names must differ: {names}")
    rows: list[tuple[str, list[Intervention]]] = []
    for _, told, joint in jobs:
        wording = joint_wording(told) if told else None
        vectors = joint.steerings(engine) if joint is not None else []
        for _, text in contents:
            where: Placement = placement if wording else "none"
            prompt = build_prompt(engine.chat, text, wording, where, system_prompt=system_prompt).text
            rows.append((prompt, vectors))
    texts = generate_rows(engine, rows, decoding, batch_size, progress, watch)
    ids = [cid for cid, _ in contents]
    out: dict[str, list[JointOutput]] = {}
    for j, name in enumerate(names):
        mine = texts[j * len(contents) : (j + 1) * len(contents)]
        out[name] = judge_joint(engine, instrs, [t for t, _ in mine], [f for _, f in mine], ids)
    return out


def score_fidelity(
    contents: Sequence[Content], prompted: Sequence[str], blocks: dict[str, list[JointOutput]]
) -> dict[str, list[JointOutput]]:
    """Each answer's chrF to the prompted answer of its content, and to another content's (the mismatched
    control). Needs at least two contents."""
    pairing = mismatched_pairing([c.kind for c in contents])
    out = {}
    for name, block in blocks.items():
        scores = fidelity([o.text for o in block], list(prompted), pairing, "prompted")
        out[name] = [
            replace(o, chrf=round(m, 2), chrf_mismatched=round(x, 2))
            for o, m, x in zip(block, scores.matched, scores.mismatched, strict=True)
        ]
    return out


def rate(verdicts: Sequence[bool]) -> dict[str, Any]:
    """A rate with its n and 95 % Wilson interval."""
    n, k = len(verdicts), sum(verdicts)
    low, high = wilson_interval(k, n)
    return {"rate": round(k / n, 4) if n else 0.0, "ci": [round(low, 4), round(high, 4)], "n": n, "k": k}


def summarise(block: Sequence[JointOutput], instructions: Sequence[str], tau: float | None) -> dict[str, Any]:
    """Joint and per-instruction rates (each with n and its interval), fluency and fidelity of one set of answers."""
    chrf = [o.chrf for o in block if o.chrf is not None]
    ppl = [o.perplexity for o in block if o.perplexity is not None]
    return {
        "joint_strict": rate([o.strict for o in block]),
        "joint_fluent": rate([o.fluent() for o in block]),
        **({"success": rate([o.success(tau) for o in block])} if tau is not None else {}),
        "each": {iid: rate([o.verdicts[iid] for o in block]) for iid in instructions},
        "repetition": round(statistics.fmean(o.repetition for o in block), 3) if block else 0.0,
        "perplexity": round(float(statistics.median(ppl)), 2) if ppl else None,
        "chrf_prompted": round(statistics.fmean(chrf), 2) if chrf else None,
    }


@dataclass(frozen=True)
class JointConfig:
    """Settings of a sweep over the instructions' weights."""

    weights: tuple[tuple[float, ...], ...] | None = None
    """The grid's cells, one weight per instruction each; None: every combination of `WEIGHTS` but all zeros."""
    placement: Placement = "post"
    decoding: Decoding = field(default_factory=lambda: Decoding(max_new_tokens=48))
    batch_size: int = 32
    fidelity_threshold: float | None = None
    """chrF a success needs; None: chosen on these contents' prompted answers (the 95 % quantile of their
    mismatched scores), which is only right when the contents are validation contents."""

    def cells(self, n_parts: int) -> tuple[tuple[float, ...], ...]:
        grid = self.weights or tuple(w for w in itertools.product(WEIGHTS, repeat=n_parts) if any(w))
        if not grid:
            raise SaifError("the weight grid is empty")
        if len(grid) > MAX_GRID_CELLS:
            raise SaifError(f"a weight grid has at most {MAX_GRID_CELLS} cells, not {len(grid)}")
        if any(len(w) != n_parts for w in grid):
            raise SaifError(f"every cell of the weight grid gives {n_parts} weights, one per instruction")
        return tuple(tuple(float(x) for x in w) for w in grid)


def cell_name(weights: Sequence[float]) -> str:
    return "w=" + ",".join(f"{w:g}" for w in weights)


@dataclass
class JointEvaluation:
    """A weight grid on the same contents beside the prompted baselines."""

    joint: JointSpec
    contents: list[str]
    cells: tuple[tuple[float, ...], ...]
    outputs: dict[str, list[JointOutput]]
    """`original`, `prompted` (every instruction), `prompted_<id>` (one), and one block per cell (`cell_name`)."""
    fidelity_threshold: float
    threshold_source: str
    config: JointConfig

    @property
    def instructions(self) -> tuple[str, ...]:
        return self.joint.instructions

    def verdicts(self, name: str) -> list[bool]:
        return [o.success(self.fidelity_threshold) for o in self.outputs[name]]

    def best_cell(self) -> tuple[float, ...]:
        """The cell that steers with every instruction (no weight 0, when the grid has such cells) with the most
        successes; ties go to the most jointly compliant answers (not loops), then the most answers each checker
        passes, then the smallest total weight. Cells with a weight 0 are one recipe alone: they are reported beside
        the joint cells, not chosen as the joint spec."""
        joint = [w for w in self.cells if all(w)] or list(self.cells)

        def rank(w: tuple[float, ...]) -> tuple[float, ...]:
            block = self.outputs[cell_name(w)]
            each = sum(ok for o in block for ok in o.verdicts.values())
            return (sum(self.verdicts(cell_name(w))), sum(o.fluent() for o in block), each, -sum(w))

        return max(joint, key=rank)

    def to_dict(self, outputs: bool = True) -> dict[str, Any]:
        tau = self.fidelity_threshold

        def block(name: str) -> dict[str, Any]:
            d = summarise(self.outputs[name], self.instructions, tau)
            if name not in ("original", "prompted"):
                d["paired"] = {
                    other: mcnemar_exact(self.verdicts(name), self.verdicts(other)).to_dict()
                    for other in ("original", "prompted")
                }
            if outputs:
                d["outputs"] = [o.to_dict() for o in self.outputs[name]]
            return d

        baselines = ["original", "prompted", *(f"prompted_{i}" for i in self.instructions)]
        return {
            "instructions": list(self.instructions),
            "wording": joint_wording(self.instructions),
            "joint": self.joint.to_dict(),
            "contents": self.contents,
            "n": len(self.contents),
            "fidelity_threshold": tau,
            "threshold_source": self.threshold_source,
            "config": {**asdict(self.config), "weights": [list(w) for w in self.cells]},
            "best_weights": list(self.best_cell()),
            "baselines": {name: block(name) for name in baselines},
            "cells": [{"weights": list(w), **block(cell_name(w))} for w in self.cells],
        }


def evaluate_joint(
    engine: Engine,
    joint: JointSpec,
    contents: Sequence[Content],
    cfg: JointConfig = JointConfig(),
    progress: Progress | None = None,
) -> JointEvaluation:
    """The weight grid of `joint` on `contents`, with `original`, `prompted` (every instruction) and each instruction
    prompted alone, in one sequence of batches."""
    if len(contents) < 2:
        raise SaifError("a joint evaluation needs at least 2 contents (fidelity pairs each with another)")
    ids = joint.instructions
    cells = cfg.cells(len(ids))
    jobs: list[Job] = [("original", (), None), ("prompted", ids, None)]
    jobs += [(f"prompted_{i}", (i,), None) for i in ids]
    jobs += [(cell_name(w), (), joint.with_weights(w)) for w in cells]
    pairs = [(c.id, c.text) for c in contents]
    raw = run_joint_jobs(
        engine, ids, pairs, jobs, placement=cfg.placement, decoding=cfg.decoding, batch_size=cfg.batch_size,
        progress=progress,
    )  # fmt: skip
    prompted = [o.text for o in raw["prompted"]]
    scored = score_fidelity(contents, prompted, raw)
    if cfg.fidelity_threshold is not None:
        tau, source = cfg.fidelity_threshold, "given"
    else:
        tau = threshold([o.chrf_mismatched for o in scored["prompted"] if o.chrf_mismatched is not None])
        source = "95 % quantile of the prompted answers' mismatched chrF on these contents"
    return JointEvaluation(
        joint=joint,
        contents=[c.id for c in contents],
        cells=cells,
        outputs=scored,
        fidelity_threshold=tau,
        threshold_source=source,
        config=cfg,
    )


@dataclass
class JointComparison:
    """One content answered original, steered jointly and prompted with every instruction."""

    joint: JointSpec
    content: str
    wording: str
    outputs: dict[str, JointOutput]
    """`original`, `steered`, `prompted`."""
    decoding: Decoding = field(default_factory=Decoding)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instructions": list(self.joint.instructions),
            "weights": list(self.joint.weights),
            "content": self.content,
            "wording": self.wording,
            "decoding": self.decoding.key(),
            "joint": self.joint.to_dict(),
            **{mode: {**o.to_dict(), "strict": o.strict} for mode, o in self.outputs.items()},
        }


def compare_joint(
    engine: Engine,
    joint: JointSpec,
    content: str,
    *,
    placement: Placement = "post",
    decoding: Decoding = DEFAULT_DECODING,
    system_prompt: bool | None = None,
    watch: Watch | None = None,
) -> JointComparison:
    """The three answers to one content (one batched generate), each judged by every instruction's checker;
    `watch` follows them (original, steered, prompted) token by token and can stop them."""
    ids = joint.instructions
    jobs: list[Job] = [("original", (), None), ("steered", (), joint), ("prompted", ids, None)]
    raw = run_joint_jobs(engine, ids, [("content", content)], jobs, placement=placement, decoding=decoding,
                         system_prompt=system_prompt, watch=watch)  # fmt: skip
    return JointComparison(
        joint=joint,
        content=content,
        wording=joint_wording(ids),
        outputs={name: block[0] for name, block in raw.items()},
        decoding=decoding,
    )
