"""Original / steered / prompted generations of the same contents, each judged by the instruction's checker.

The baselines matter more than the steered output: `original` (content only) says what the model does anyway, and
`prompted` (content + instruction) is what AxBench finds usually beats steering. `prompted_steered` asks whether
steering adds anything on top of the instruction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypedDict, Unpack

from saif_ui.engine import Engine
from saif_ui.engine.decoding import GREEDY, Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.records import from_fields
from saif_ui.engine.steering import Intervention
from saif_ui.engine.watch import Watch
from saif_ui.saif.discovery.discover import resolve_instruction
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.inputs.prompts import Placement, build_prompt
from saif_ui.saif.judge.checkers import check
from saif_ui.saif.judge.fluency import degeneration, perplexity
from saif_ui.saif.steering.spec import SteeringSpec

Mode = Literal["original", "steered", "prompted", "prompted_steered"]
MODES: tuple[Mode, ...] = ("original", "steered", "prompted", "prompted_steered")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Output:
    """One generation and its verdicts. strict/loose are None when the instruction has no checker."""

    text: str
    strict: bool | None
    loose: bool | None
    perplexity: float | None
    repetition: float
    """`fluency.degeneration`: share of the text that repeats (word trigrams or character 8-grams)."""
    finished: bool
    id: str = ""
    fidelity: dict[str, float] | None = None
    """chrF to the content and to the prompted answer, each beside its mismatched control (`judge.fidelity`);
    filled in by evaluations, which know the contents."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Output:
        """An output from `to_dict()`; unknown keys are ignored, missing required ones are a ValueError."""
        return from_fields(cls, data, "an output record")


@dataclass
class Comparison:
    """The modes for one content."""

    instruction: str
    content: str
    spec: SteeringSpec
    placement: Placement
    wording: str
    prompts: dict[str, str]
    outputs: dict[str, Output]
    decoding: Decoding = field(default_factory=Decoding)
    stopped: bool = False
    """Stop was pressed while it generated: the answers end where it stopped (`finished` False), and the result is
    not the model's whole answer (never cached)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            **({"stopped": True} if self.stopped else {}),  # only when set: every stored comparison stays as it was
            "instruction": self.instruction,
            "content": self.content,
            "placement": self.placement,
            "wording": self.wording,
            "decoding": self.decoding.key(),
            "spec": self.spec.to_dict(),
            "prompts": self.prompts,
            **{mode: out.to_dict() for mode, out in self.outputs.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        """A comparison from `to_dict()` (a cached result, an imported exploration); a malformed record is a
        ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise SaifError("a comparison is a JSON object")
        try:
            return cls(
                instruction=str(data["instruction"]),
                content=str(data["content"]),
                spec=SteeringSpec.from_dict(data["spec"]),
                placement=data["placement"],
                wording=str(data["wording"]),
                prompts={str(k): str(v) for k, v in dict(data.get("prompts") or {}).items()},
                outputs={m: Output.from_dict(data[m]) for m in MODES if isinstance(data.get(m), dict)},
                decoding=Decoding(**dict(data.get("decoding") or {})),
                stopped=bool(data.get("stopped", False)),
            )
        except (KeyError, TypeError) as err:
            raise SaifError(f"not a comparison: missing or malformed field {err}") from None


def judge(
    engine: Engine, instruction: Instruction, texts: Sequence[str], finished: Sequence[bool], ids: Sequence[str]
) -> list[Output]:
    """Checker verdicts and fluency for generated texts."""
    ppl = perplexity(engine, texts)
    out = []
    for text, done, p, cid in zip(texts, finished, ppl, ids, strict=True):
        verdict = check(instruction.checker, text) if instruction.checker else None
        out.append(
            Output(
                text=text,
                strict=verdict.strict if verdict else None,
                loose=verdict.loose if verdict else None,
                perplexity=p,
                repetition=degeneration(text),
                finished=done,
                id=cid,
            )
        )
    return out


def generate_rows(
    engine: Engine,
    rows: Sequence[tuple[str, Sequence[Intervention]]],
    decoding: Decoding = GREEDY,
    batch_size: int = 8,
    progress: Progress | None = None,
    watch: Watch | None = None,
) -> list[tuple[str, bool]]:
    """(text, finished) of each (rendered prompt, its steering) row, `batch_size` rows per batched generate, returned
    in the rows' order; `progress(done, total)` after each batch.

    Rows are batched shortest prompt first: a batch's prompts are left-padded to its longest, and the padding is
    prefilled and attended to like real tokens, so batches of similar lengths waste less (a sweep's contents
    alternate one-line statements and paragraphs). The order is a stable sort of the token counts, so the same rows
    always make the same batches.

    `watch` is told every row's text after each new token, in the rows' order (rows of batches not yet started
    empty, finished batches whole); once its `stop` is set the running batch ends at its next token and no further
    batch starts: the rows never started come back empty and unfinished.
    """
    if batch_size < 1:
        raise SaifError("batch_size must be >= 1")
    lengths = {p: len(engine.prompt_ids(p)) for p in dict.fromkeys(p for p, _ in rows)}
    order = sorted(range(len(rows)), key=lambda i: lengths[rows[i][0]])
    out: list[tuple[str, bool] | None] = [None] * len(rows)
    shown = [""] * len(rows)
    for b in range(0, len(order), batch_size):
        if watch is not None and watch.stop.is_set():
            break
        chunk = order[b : b + batch_size]
        gens = engine.generate_each(
            [rows[i][0] for i in chunk],
            [list(rows[i][1]) for i in chunk],
            decoding=decoding,
            watch=None if watch is None else _within(watch, chunk, shown),
        )
        for i, g in zip(chunk, gens, strict=True):
            out[i] = (g.text, g.finished)
        if progress:
            progress(b + len(chunk), len(rows))
    return [o if o is not None else ("", False) for o in out]


def _within(watch: Watch, chunk: Sequence[int], shown: list[str]) -> Watch:
    """A batch's watch that reports to `watch` the whole rows list (`shown`, updated with the batch's rows `chunk`),
    stopping with it."""

    def on_texts(texts: list[str]) -> None:
        for i, text in zip(chunk, texts, strict=True):
            shown[i] = text
        watch.on_texts(list(shown))

    return Watch(on_texts, watch.stop)


class JobOptions(TypedDict, total=False):
    """`run_jobs`'s keyword options (their defaults are `run_jobs`'s), which `run_modes` passes on as given."""

    placement: Placement
    wording: str | None
    decoding: Decoding
    system_prompt: bool | None
    batch_size: int
    progress: Progress | None
    watch: Watch | None


def run_modes(
    engine: Engine,
    instruction: Instruction | str,
    contents: Sequence[tuple[str, str]],
    spec: SteeringSpec,
    modes: Sequence[Mode] = ("original", "steered", "prompted"),
    **options: Unpack[JobOptions],
) -> tuple[dict[Mode, list[Output]], dict[Mode, list[str]]]:
    """Generate every mode for (id, text) contents, in shared batches, with `run_jobs`'s keyword options.

    Returns (outputs per mode, rendered prompts per mode), both in content order.
    """
    outputs, prompts = run_jobs(engine, instruction, contents, [(m, spec) for m in modes], **options)
    return dict(zip(modes, outputs, strict=True)), prompts


def run_jobs(
    engine: Engine,
    instruction: Instruction | str,
    contents: Sequence[tuple[str, str]],
    jobs: Sequence[tuple[Mode, SteeringSpec]],
    *,
    placement: Placement = "post",
    wording: str | None = None,
    decoding: Decoding = GREEDY,
    system_prompt: bool | None = None,
    batch_size: int = 8,
    progress: Progress | None = None,
    watch: Watch | None = None,
) -> tuple[list[list[Output]], dict[Mode, list[str]]]:
    """Generate each (mode, spec) job for every (id, text) content; the spec steers the steered modes only.

    Every job of every content goes through one sequence of batches, each row with its own steering: a comparison's
    original, steered and prompted answers are one generate call, and a sweep's α share batches instead of running
    one after another. Returns the outputs of each job (in content order) and the rendered prompts per mode.
    `watch` follows the answers as they grow, job after job, each job's contents in order (`generate_rows`).
    """
    instr = resolve_instruction(instruction)
    unknown = [m for m, _ in jobs if m not in MODES]
    if unknown:
        raise SaifError(f"modes must be among {', '.join(MODES)}; got {unknown}")
    if placement not in ("post", "pre"):
        raise SaifError(f"placement must be post or pre, not {placement!r}")
    said = wording or instr.canonical
    prompts: dict[Mode, list[str]] = {}
    for mode in dict.fromkeys(m for m, _ in jobs):
        told = mode in ("prompted", "prompted_steered")
        prompts[mode] = [
            build_prompt(
                engine.chat, text, said if told else None, placement if told else "none", system_prompt=system_prompt
            ).text
            for _, text in contents
        ]
    rows = [
        (p, vectors)
        for m, spec in jobs
        for vectors in [spec.steerings(engine) if "steered" in m else []]
        for p in prompts[m]
    ]
    texts = generate_rows(engine, rows, decoding, batch_size, progress, watch)
    out: list[list[Output]] = []
    for j in range(len(jobs)):
        mine = texts[j * len(contents) : (j + 1) * len(contents)]
        out.append(judge(engine, instr, [t for t, _ in mine], [f for _, f in mine], [cid for cid, _ in contents]))
    return out, prompts


def compare(
    engine: Engine,
    instruction: Instruction | str,
    content: str,
    spec: SteeringSpec,
    *,
    placement: Placement = "post",
    wording: str | None = None,
    prompted_steered: bool = False,
    decoding: Decoding = GREEDY,
    system_prompt: bool | None = None,
    watch: Watch | None = None,
) -> Comparison:
    """Original, steered and prompted (and optionally prompted + steered) answers to one content.

    `watch` is told the answers after each new token, in that order of modes (they share one batched generate, so
    they advance together); a stop ends them at the next token and marks the comparison `stopped`.
    """
    instr = resolve_instruction(instruction)
    modes: list[Mode] = ["original", "steered", "prompted"]
    if prompted_steered:
        modes.append("prompted_steered")
    outputs, prompts = run_modes(
        engine,
        instr,
        [("content", content)],
        spec,
        modes,
        placement=placement,
        wording=wording,
        decoding=decoding,
        system_prompt=system_prompt,
        watch=watch,
    )
    return Comparison(
        instruction=instr.id,
        content=content,
        spec=spec,
        placement=placement,
        wording=wording or instr.canonical,
        prompts={m: p[0] for m, p in prompts.items()},
        outputs={m: o[0] for m, o in outputs.items()},
        decoding=decoding,
        stopped=watch is not None and watch.stop.is_set(),
    )
