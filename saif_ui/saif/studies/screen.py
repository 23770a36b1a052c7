"""`python -m saif_ui screen`: which candidate instructions the model follows when told, and the catalogue they make.

Every candidate in assets/candidates.json is appended, in its canonical wording, after each validation content
(post placement, the chat template's default system prompt, greedy, 48 new tokens) and judged by its checker, strict and
loose (IFEval). The same contents are also answered once without any instruction (`untold`): a candidate the model
satisfies anyway (say, "no commas" on short answers) is followed when told but leaves nothing for steering to move.
A candidate is kept when its strict rate when told reaches `KEEP_AT`; the kept ones, with their measured rate, become
the shipped catalogue (assets/instructions.json).

With `first_stage` set (e.g. `MIN_FIRST_STAGE`, for a quicker screen on a busy CPU), it runs in two stages: every
candidate is measured on the first `first_stage` contents; one whose 95 % Wilson interval lies wholly below `KEEP_AT`
is dropped there (more contents could not plausibly lift it over the bar), the others go on to all `n_contents`. Each
row states its n.
A dropped candidate stays in the catalogue only when other code names its id (`RETAINED`), flagged with the reason.

Generations are cached on disk (`<cache_dir>/screen/`, in chunks of `CHUNK` contents keyed by model, wording,
the chunk's passages and decoding, so a larger n reuses the smaller one's), and verdicts are recomputed from the
texts on every run, so a checker fix re-judges without regenerating.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.cache import JsonStore
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.provenance import command_line, git_commit
from saif_ui.resources import docs_dir
from saif_ui.saif.discovery.discover import pick_contents
from saif_ui.saif.inputs.catalogue import (
    CANDIDATES_PATH,
    Catalogue,
    Instruction,
    load_catalogue,
)
from saif_ui.saif.inputs.contents import Content, contents_version, load_contents
from saif_ui.saif.judge.checkers import CHECKERS, CHECKERS_VERSION, check
from saif_ui.saif.judge.fluency import degeneration
from saif_ui.saif.judge.stats import CONFIDENCE, wilson_interval
from saif_ui.saif.steering.compare import Mode, run_modes
from saif_ui.saif.steering.evaluate import REPETITION_LIMIT
from saif_ui.saif.steering.spec import SteeringSpec
from saif_ui.saif.studies.compliance import DECODING

SCREEN_VERSION = 1
"""Bump when the screen's generations change meaning (prompt layout, what is cached)."""
KEEP_AT = 0.60
"""A candidate is kept when the model follows it when told (strict) in at least this share of validation contents."""
MIN_FIRST_STAGE = 32
"""The least `first_stage` worth using: fewer contents give intervals too wide to drop anything on."""
CHUNK = 16
"""Contents per cached document of generations."""
UNTOLD_WARN = 0.25
"""SCREEN.md flags a kept candidate whose checker passes at least this share of the answers given without the
instruction: the model is told and complies, but much of that it does anyway."""
DOCS = docs_dir()
CATALOGUE_FILE_VERSION = 2
"""The `version` of assets/instructions.json the screen writes (1 was the hand-picked first catalogue)."""
RETAINED: dict[str, str] = {
    "json": "tests/saif/discovery/test_discover.py uses this id (and the JSON checkers' tests)",
    "uppercase": (
        "tests/ui/test_app.py and tests/cli/test_steer.py use this id as the instruction the model does not follow"
    ),
}
"""Ids that stay in the shipped catalogue even when dropped, because code outside the screen names them."""
Log = Callable[[str], None]


@dataclass(frozen=True)
class ScreenConfig:
    """Settings of one screen. `n_contents=None` takes every validation content; `first_stage=None` measures every
    candidate on all of them (no early drop)."""

    n_contents: int | None = None
    first_stage: int | None = None
    max_new_tokens: int = DECODING.max_new_tokens
    keep_at: float = KEEP_AT
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.n_contents is not None and self.n_contents < 1:
            raise SaifError("n_contents must be at least 1 (or None for every validation content)")
        if self.first_stage is not None and self.first_stage < 1:
            raise SaifError("first_stage must be at least 1 (or None for a single stage)")
        if not 0.0 < self.keep_at <= 1.0:
            raise SaifError("keep_at must lie in (0, 1]")

    @property
    def decoding(self) -> Decoding:
        return Decoding(max_new_tokens=self.max_new_tokens)


def screen_contents(cfg: ScreenConfig) -> list[Content]:
    """The validation contents the screen uses, statements and paragraphs alternating (`pick_contents`)."""
    return pick_contents(load_contents("validation"), cfg.n_contents)


class _Generations:
    """Generated texts on disk, one document per (mode, wording, chunk of `CHUNK` contents, decoding, model)."""

    def __init__(self, engine: Engine, cfg: ScreenConfig, enabled: bool) -> None:
        self.engine, self.cfg = engine, cfg
        self.store = JsonStore(Path(engine.config.cache_dir) / "screen", enabled=enabled)
        self.generated = self.cached = 0
        """Chunks generated in this run, and chunks read from the cache."""
        self.base = {
            "v": SCREEN_VERSION,
            "model": engine.config.model,
            "dtype": str(engine.loaded.dtype),
            "system_prompt": engine.chat.default_system_prompt,
            "decoding": cfg.decoding.key(),
            "placement": "post",
        }

    def key(self, instruction: Instruction, mode: Mode, chunk: Sequence[Content]) -> dict[str, Any]:
        wording = instruction.canonical if mode == "prompted" else None
        # The chunk's own ids and texts, not a version of the whole file: growing another split reuses every chunk.
        return {**self.base, "mode": mode, "wording": wording, "contents": [[c.id, c.text] for c in chunk]}

    def texts(self, instruction: Instruction, mode: Mode, contents: Sequence[Content]) -> list[str]:
        """The answers to `contents` in order: cached chunks are read, the missing ones generated in one batched
        `run_modes` call and stored."""
        chunks = [list(contents[i : i + CHUNK]) for i in range(0, len(contents), CHUNK)]
        name = f"screen-{mode}"
        found: list[list[str] | None] = [self.store.get(name, self.key(instruction, mode, c)) for c in chunks]
        missing = [c for c, texts in zip(chunks, found, strict=True) if texts is None]
        self.generated += len(missing)
        self.cached += len(chunks) - len(missing)
        if missing:
            flat = [c for chunk in missing for c in chunk]
            outputs, _ = run_modes(
                self.engine,
                instruction,
                [(c.id, c.text) for c in flat],
                SteeringSpec(),
                [mode],
                decoding=self.cfg.decoding,
                batch_size=self.cfg.batch_size,
            )
            made = iter(o.text for o in outputs[mode])
            for chunk in missing:
                texts = [next(made) for _ in chunk]
                self.store.put(name, self.key(instruction, mode, chunk), texts)
                found[chunks.index(chunk)] = texts
        return [text for texts in found for text in texts or ()]


def _rate(passed: Sequence[bool]) -> dict[str, Any]:
    k, n = sum(passed), len(passed)
    low, high = wilson_interval(k, n)
    return {"k": k, "rate": k / n if n else 0.0, "ci": [round(low, 4), round(high, 4)]}


def _examples(contents: Sequence[Content], texts: Sequence[str], strict: Sequence[bool]) -> list[dict[str, Any]]:
    """Two outputs: the first one that passes and the first that fails (the first two when all agree)."""
    picks = [next((i for i, s in enumerate(strict) if s), None), next((i for i, s in enumerate(strict) if not s), None)]
    chosen = [i for i in picks if i is not None]
    chosen += [i for i in range(len(texts)) if i not in chosen][: 2 - len(chosen)]
    return [{"content": contents[i].id, "output": texts[i], "strict": strict[i]} for i in sorted(chosen)]


def judge_candidate(
    instruction: Instruction,
    contents: Sequence[Content],
    told: Sequence[str],
    untold: Sequence[str],
    keep_at: float = KEEP_AT,
) -> dict[str, Any]:
    """One candidate's row: strict, loose, fluent-strict and untold rates with n and 95 % Wilson intervals.

    `told` and `untold` are the answers to `contents` with and without the instruction, in the same order."""
    if not len(contents) == len(told) == len(untold):
        raise SaifError(f"{len(contents)} contents, {len(told)} told and {len(untold)} untold answers differ")
    checker = instruction.checker
    if checker is None:
        raise SaifError(f"candidate {instruction.id!r} has no checker")
    verdicts = [check(checker, text) for text in told]
    strict = [v.strict for v in verdicts]
    fluent = [s and degeneration(t) <= REPETITION_LIMIT for s, t in zip(strict, told, strict=True)]
    rates = {
        "strict": _rate(strict),
        "loose": _rate([v.loose for v in verdicts]),
        "fluent_strict": _rate(fluent),
        "untold_strict": _rate([check(checker, text).strict for text in untold]),
    }
    return {
        "id": instruction.id,
        "category": instruction.category,
        "checker": checker,
        "checker_description": CHECKERS[checker].description,
        "canonical": instruction.canonical,
        "n": len(told),
        **{name: r["rate"] for name, r in rates.items()},
        **{f"{name}_k": r["k"] for name, r in rates.items()},
        **{f"{name}_ci": r["ci"] for name, r in rates.items()},
        "kept": rates["strict"]["rate"] >= keep_at,
        "examples": _examples(contents, told, strict),
    }


def run_screen(
    engine: Engine,
    candidates: Catalogue | None = None,
    cfg: ScreenConfig = ScreenConfig(),
    *,
    use_cache: bool = True,
    log: Log = print,
) -> dict[str, Any]:
    """Measure every candidate's prompted compliance on the validation contents; returns the screen document that
    `write_screen` publishes (provenance, config, one row per candidate, kept and dropped ids)."""
    commit = git_commit()  # at the start: the code that ran, whatever is edited during a long run
    start = time.perf_counter()
    candidates = candidates or load_catalogue(CANDIDATES_PATH)
    contents = screen_contents(cfg)
    first = contents[: cfg.first_stage] if cfg.first_stage else contents
    gens = _Generations(engine, cfg, use_cache)
    untold = gens.texts(candidates.instructions[0], "original", contents)
    rows = []
    for number, instruction in enumerate(candidates, start=1):
        began = time.perf_counter()
        told = gens.texts(instruction, "prompted", first)
        row = judge_candidate(instruction, first, told, untold[: len(first)], cfg.keep_at)
        stopped = len(first) < len(contents) and row["strict_ci"][1] < cfg.keep_at
        if len(first) < len(contents) and not stopped:
            told = gens.texts(instruction, "prompted", contents)
            row = judge_candidate(instruction, contents, told, untold, cfg.keep_at)
        row["stopped_early"] = stopped
        rows.append(row)
        log(
            f"[{number}/{len(candidates)}] {row['id']:>16}: n {row['n']} strict {row['strict']:.0%} "
            f"{row['strict_ci']} loose {row['loose']:.0%} untold {row['untold_strict']:.0%} "
            f"{'kept' if row['kept'] else 'dropped'} ({time.perf_counter() - began:.0f} s)"
        )
    return {
        "provenance": {
            "git_commit": commit,
            "command": command_line(),
            "model": engine.config.model,
            "dtype": str(engine.loaded.dtype),
            "contents_version": contents_version("validation"),
            "candidates_version": candidates.version,
            "candidates_path": str(candidates.path.name if candidates.path else None),
            "checkers_version": CHECKERS_VERSION,
            "screen_version": SCREEN_VERSION,
        },
        "config": {
            **asdict(cfg),
            "n": len(contents),
            "n_first_stage": len(first),
            "split": "validation",
            "placement": "post",
            "wording": "canonical",
            "decoding": cfg.decoding.key(),
            "confidence": CONFIDENCE,
            "interval": "wilson (statsmodels proportion_confint)",
            "repetition_limit": REPETITION_LIMIT,
        },
        "candidates": rows,
        "kept": [r["id"] for r in rows if r["kept"]],
        "dropped": [r["id"] for r in rows if not r["kept"]],
        "generation": {"chunk": CHUNK, "chunks_generated": gens.generated, "chunks_cached": gens.cached},
        "seconds": round(time.perf_counter() - start, 1),
    }
