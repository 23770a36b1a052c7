"""Steering evaluation: compliance and fluency over an α sweep on held-out contents, against both baselines.

Compliance counts as *fluent* only when the output is not a loop: at high α a steered model often emits one
token over and over ("pour pour pour ..."), which a language detector happily calls French. And an answer counts as a
*success* only when it is also faithful: its chrF to the model's own prompted answer for the same content reaches the
threshold chosen on validation (`judge.fidelity`), so fluent French about nothing in particular does not count.
(chrF to the English content itself is reported too, but across languages it barely separates a content from
another; each recipe records how often prompted answers would pass on it.) The prompted answers are the reference,
so their own success is their fluent-strict rate. `success` is the number to read when a threshold is set,
`fluent_strict` otherwise; `strict` is reported beside them so the gaps are visible.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.discover import pick_contents, resolve_instruction
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.inputs.contents import Content, load_contents
from saif_ui.saif.inputs.prompts import Placement
from saif_ui.saif.judge.checkers import UnknownCheckerError, get_checker
from saif_ui.saif.judge.fidelity import fidelity, mismatched_pairing
from saif_ui.saif.judge.stats import Paired, mcnemar_exact, wilson_interval
from saif_ui.saif.steering.compare import Mode, Output, Progress, run_jobs
from saif_ui.saif.steering.spec import SteeringSpec

MEAN_ACT_ALPHAS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""With `mean_act` scaling, α = 1 re-creates the latents' mean presence under the instruction; the sweep brackets
it by 4x either way (the useful range measured on discovery-split contents was 0.5-2 at every shipped layer)."""
REPETITION_LIMIT = 0.5
"""Above this `degeneration` (repeated word trigrams or character 8-grams) an output is a loop, not an answer."""


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation. `alphas` None: `default_alphas(spec)`."""

    alphas: tuple[float, ...] | None = None
    n_contents: int | None = 24
    """Held-out contents used (statements and paragraphs alternating); None: all."""
    placement: Placement = "post"
    """Where the instruction goes in the prompted baseline."""
    decoding: Decoding = field(default_factory=lambda: Decoding(max_new_tokens=48))
    batch_size: int = 32
    """Rows per batched generate; the baselines and every α share batches (`run_jobs`). On a CPU 32 short answers
    decode in little more time than a few; the KV cache of 32 rows stays far under the app's memory budget."""
    repetition_limit: float = REPETITION_LIMIT
    prompted_steered: bool = False
    """Also run prompted + steered at every α (twice the cost)."""
    checker: str | None = None
    """Judge with this checker instead of the instruction's own (e.g. `json_start` for `json`)."""
    fidelity_threshold: float | None = None
    """chrF to the prompted answer an answer needs to count as faithful (chosen on validation); None: no `success`
    rate."""

    def __post_init__(self) -> None:
        if self.alphas is not None and not self.alphas:
            raise SaifError("alphas must not be empty")
        if self.n_contents is not None and self.n_contents < 1:
            raise SaifError("n_contents must be >= 1")


def default_alphas(spec: SteeringSpec) -> tuple[float, ...]:
    """A sweep that suits the spec: fixed multiples for `mean_act`; for `unit`, the same multiples of the
    latents' mean activation (what α = 1 means under `mean_act`), so both sweeps cover the same strengths."""
    if spec.scale == "mean_act" or not spec.latents:
        return MEAN_ACT_ALPHAS
    acts = [e.mean_act for e in spec.latents if e.mean_act]
    typical = statistics.fmean(acts) if acts else 1.0
    return tuple(round(a * typical, 3) for a in MEAN_ACT_ALPHAS)


@dataclass(frozen=True)
class Summary:
    """Rates over one set of outputs."""

    strict: float
    loose: float
    fluent_strict: float
    perplexity: float | None
    """Median over outputs (a few exploding values would swamp a mean)."""
    repetition: float
    n: int
    success: float | None = None
    """Compliant (strict), not a loop and faithful (chrF to the prompted answer >= the threshold); None without a
    threshold."""
    chrf: dict[str, float] | None = None
    """Mean chrF of the outputs per reference (`content`, `content_mismatched`, `prompted`, `prompted_mismatched`)."""

    @classmethod
    def of(cls, outputs: Sequence[Output], repetition_limit: float, threshold: float | None = None) -> Summary:
        n = len(outputs)
        ppl = [o.perplexity for o in outputs if o.perplexity is not None]
        scored = [o.fidelity for o in outputs if o.fidelity is not None]
        complete = bool(scored) and len(scored) == n
        chrf = {key: statistics.fmean(f[key] for f in scored) for key in scored[0]} if complete else None
        return cls(
            strict=sum(bool(o.strict) for o in outputs) / n if n else 0.0,
            loose=sum(bool(o.loose) for o in outputs) / n if n else 0.0,
            fluent_strict=sum(is_fluent_strict(o, repetition_limit) for o in outputs) / n if n else 0.0,
            perplexity=float(statistics.median(ppl)) if ppl else None,
            repetition=statistics.fmean(o.repetition for o in outputs) if n else 0.0,
            n=n,
            success=None
            if threshold is None or chrf is None
            else sum(is_success(o, repetition_limit, threshold) for o in outputs) / n,
            chrf=chrf,
        )

    def ci(self, rate: float) -> tuple[float, float]:
        """The 95% Wilson interval of one of this summary's rates (over its n outputs)."""
        return wilson_interval(round(rate * self.n), self.n)

    def to_dict(self) -> dict[str, Any]:
        rates = ("strict", "loose", "fluent_strict") + (("success",) if self.success is not None else ())
        return {
            "strict": self.strict,
            "loose": self.loose,
            "fluent_strict": self.fluent_strict,
            **({"success": self.success} if self.success is not None else {}),
            "fluency": {"perplexity": self.perplexity, "repetition": self.repetition},
            **({"chrf": {k: round(v, 2) for k, v in self.chrf.items()}} if self.chrf is not None else {}),
            "n": self.n,
            "ci": {name: list(self.ci(getattr(self, name))) for name in rates},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        fluency = data.get("fluency") or {}
        return cls(
            strict=float(data["strict"]),
            loose=float(data["loose"]),
            fluent_strict=float(data["fluent_strict"]),
            perplexity=None if fluency.get("perplexity") is None else float(fluency["perplexity"]),
            repetition=float(fluency.get("repetition", 0.0)),
            n=int(data.get("n", 0)),
            success=None if data.get("success") is None else float(data["success"]),
            chrf=None if data.get("chrf") is None else {str(k): float(v) for k, v in data["chrf"].items()},
        )


def is_fluent_strict(output: Output, repetition_limit: float = REPETITION_LIMIT) -> bool:
    return bool(output.strict) and output.repetition <= repetition_limit


def is_success(output: Output, repetition_limit: float, threshold: float) -> bool:
    """The headline verdict: compliant, not a loop, and at least `threshold` chrF to the prompted answer."""
    return (
        is_fluent_strict(output, repetition_limit)
        and output.fidelity is not None
        and output.fidelity["prompted"] >= threshold
    )


@dataclass
class Evaluation:
    instruction: str
    checker: str
    layer: list[int]
    spec: SteeringSpec
    config: EvalConfig
    alphas: tuple[float, ...]
    contents: list[str]
    steered: dict[float, list[Output]]
    baselines: dict[str, list[Output]]
    prompted_steered: dict[float, list[Output]] = field(default_factory=dict)

    def summary(self, alpha: float) -> Summary:
        return Summary.of(self.steered[alpha], self.config.repetition_limit, self.config.fidelity_threshold)

    def baseline(self, name: str) -> Summary:
        return Summary.of(self.baselines[name], self.config.repetition_limit, self.config.fidelity_threshold)

    @property
    def headline(self) -> str:
        """The rate that decides: `success` with a fidelity threshold, `fluent_strict` without."""
        return "success" if self.config.fidelity_threshold is not None else "fluent_strict"

    def verdicts(self, items: Sequence[Output], metric: str | None = None) -> list[bool]:
        """Per-output verdicts of `metric` (`strict`, `fluent_strict`, `success`; default: the headline)."""
        limit, threshold = self.config.repetition_limit, self.config.fidelity_threshold
        metric = metric or self.headline
        if metric == "strict":
            return [bool(o.strict) for o in items]
        if metric == "fluent_strict":
            return [is_fluent_strict(o, limit) for o in items]
        if metric == "success" and threshold is not None:
            return [is_success(o, limit, threshold) for o in items]
        raise SaifError(f"unknown verdict {metric!r} (success needs a fidelity threshold)")

    def paired(self, alpha: float, baseline: str, metric: str | None = None) -> Paired:
        """Steered at `alpha` against a baseline on the same contents: McNemar's exact test of the headline verdict
        (or `metric`)."""
        steered, base = self.steered[alpha], self.baselines[baseline]
        return mcnemar_exact(self.verdicts(steered, metric), self.verdicts(base, metric))

    def best_alpha(self) -> float:
        """The α with the highest headline rate (the smallest such α on ties)."""
        return max(self.alphas, key=lambda a: (sum(self.verdicts(self.steered[a])), -a))

    def to_dict(self, outputs: bool = True) -> dict[str, Any]:
        def block(items: list[Output]) -> dict[str, Any]:
            d = Summary.of(items, self.config.repetition_limit, self.config.fidelity_threshold).to_dict()
            return {**d, "outputs": [o.to_dict() for o in items]} if outputs else d

        results = []
        for a in self.alphas:
            r = {"alpha": a, **block(self.steered[a])}
            r["paired"] = {name: self.paired(a, name).to_dict() for name in self.baselines}
            if a in self.prompted_steered:
                r["prompted_steered"] = block(self.prompted_steered[a])
            results.append(r)
        return {
            "instruction": self.instruction,
            "checker": self.checker,
            "headline": self.headline,
            "layer": self.layer[0] if len(self.layer) == 1 else self.layer,
            "spec": self.spec.to_dict(),
            "config": {**asdict(self.config), "alphas": list(self.alphas)},
            "contents": self.contents,
            "best_alpha": self.best_alpha(),
            "results": results,
            "baselines": {name: block(items) for name, items in self.baselines.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        """An evaluation from `to_dict()` (outputs included); a malformed record is a ValueError."""
        if not isinstance(data, dict):
            raise SaifError("an evaluation is a JSON object")
        try:
            raw = dict(data["config"])
            raw["decoding"] = Decoding(**raw.get("decoding", {}))
            raw["alphas"] = tuple(float(a) for a in raw.get("alphas") or ()) or None
            config = EvalConfig(**raw)
            results = list(data["results"])

            def outputs(block: dict[str, Any]) -> list[Output]:
                return [Output.from_dict(o) for o in block["outputs"]]

            layer = data["layer"]
            return cls(
                instruction=str(data["instruction"]),
                checker=str(data["checker"]),
                layer=[int(x) for x in layer] if isinstance(layer, list) else [int(layer)],
                spec=SteeringSpec.from_dict(data["spec"]),
                config=config,
                alphas=tuple(float(r["alpha"]) for r in results),
                contents=[str(c) for c in data["contents"]],
                steered={float(r["alpha"]): outputs(r) for r in results},
                baselines={str(k): outputs(v) for k, v in dict(data["baselines"]).items()},
                prompted_steered={
                    float(r["alpha"]): outputs(r["prompted_steered"]) for r in results if "prompted_steered" in r
                },
            )
        except (KeyError, TypeError) as err:
            raise SaifError(f"not an evaluation: missing or malformed field {err}") from None


def evaluate(
    engine: Engine,
    instruction: Instruction | str,
    spec: SteeringSpec,
    contents: Sequence[Content] | None = None,
    cfg: EvalConfig = EvalConfig(),
    progress: Progress | None = None,
) -> Evaluation:
    """Sweep α for `spec` on contents (default: the shipped held-out split, which discovery never sees).

    Baselines: `original` (content alone, no steering) and `prompted` (content + canonical instruction, no steering),
    on the same contents with the same decoding.
    """
    instr = resolve_instruction(instruction)
    if cfg.checker:
        try:
            get_checker(cfg.checker)
        except UnknownCheckerError as e:
            raise SaifError(str(e)) from None
        instr = replace(instr, checker=cfg.checker)
    if not instr.checker:
        raise SaifError(f"instruction {instr.id!r} has no checker, so compliance cannot be measured")
    chosen = list(contents) if contents is not None else pick_contents(load_contents("validation"), cfg.n_contents)
    if not chosen:
        raise SaifError("no contents to evaluate on")
    pairs = [(c.id, c.text) for c in chosen]
    alphas = tuple(float(a) for a in (cfg.alphas or default_alphas(spec)))
    modes: list[Mode] = ["steered", "prompted_steered"] if cfg.prompted_steered else ["steered"]
    # Both baselines and every α in one sequence of batches (`run_jobs`): α share batches rather than run in turn.
    jobs: list[tuple[Mode, SteeringSpec]] = [("original", spec), ("prompted", spec)]
    jobs += [(m, spec.with_alpha(a)) for a in alphas for m in modes]
    outputs, _ = run_jobs(
        engine,
        instr,
        pairs,
        jobs,
        placement=cfg.placement,
        decoding=cfg.decoding,
        batch_size=cfg.batch_size,
        progress=progress,
    )
    base: dict[Mode, list[Output]] = {"original": outputs[0], "prompted": outputs[1]}
    steered: dict[float, list[Output]] = {}
    both: dict[float, list[Output]] = {}
    for i, a in enumerate(alphas):
        steered[a] = outputs[2 + i * len(modes)]
        if cfg.prompted_steered:
            both[a] = outputs[2 + i * len(modes) + 1]
    _score_fidelity(chosen, base, [*steered.values(), *both.values()])
    return Evaluation(
        instruction=instr.id,
        checker=instr.checker,
        layer=sorted({e.layer for e in spec.latents} | {v.layer for v in spec.vectors}),
        spec=spec,
        config=cfg,
        alphas=alphas,
        contents=[c.id for c in chosen],
        steered=steered,
        baselines={"original": base["original"], "prompted": base["prompted"]},
        prompted_steered=both,
    )


def _score_fidelity(contents: Sequence[Content], base: dict[Mode, list[Output]], others: list[list[Output]]) -> None:
    """Fill every output's `fidelity` in place: chrF against its content and against the prompted answer to the same
    content, each beside the same score against another content of the same kind (the mismatched control)."""
    if len(contents) < 2:
        return
    texts = [c.text for c in contents]
    prompted = [o.text for o in base["prompted"]]
    pairing = mismatched_pairing([c.kind for c in contents])
    for block in [base["original"], base["prompted"], *others]:
        answers = [o.text for o in block]
        to_content = fidelity(answers, texts, pairing, "content")
        to_prompted = fidelity(answers, prompted, pairing, "prompted")
        for i, o in enumerate(block):
            block[i] = replace(
                o,
                fidelity={
                    "content": round(to_content.matched[i], 2),
                    "content_mismatched": round(to_content.mismatched[i], 2),
                    "prompted": round(to_prompted.matched[i], 2),
                    "prompted_mismatched": round(to_prompted.mismatched[i], 2),
                },
            )
