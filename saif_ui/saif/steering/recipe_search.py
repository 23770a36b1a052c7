"""Choosing an instruction's steering recipe on validation contents only (`python -m saif_ui choose-recipe`).

Test contents are never read here. The search, per instruction:

0. The fidelity threshold: the model's prompted answers to every validation content, each scored (chrF) against the
   prompted answer to another content of its kind; the 95th percentile of those mismatched scores is the chrF to
   its own prompted answer an answer needs to count as faithful (`judge.fidelity`).
1. Layer: discovery (post placement, discovery split) at every attached SAE; its top-5 latents steered over the α grid
   on the first `n_stage` validation contents.
2. k: at the best layer, the top-1 and top-10 over the same grid.
3. Variants (Xie 2025; Stolfo 2024): at the best (layer, k, α) so far, steering only the generated positions, and
   token-wise decay at twice the α; then each other intervention of `methods` (clamp, projection cap, orthogonal
   decomposition: `SteeringSpec.method`) at the best setting so far, over the α grid (α is then the clamp value, the
   cap or the component's multiplier, each × the latents' mean activation where the method scales by it).
4. Finalists: the `finalists` best candidates go on to every other validation content; the one with the most
   successes over all validation contents is the recipe. Ties (all at zero, when no answer is faithful) go to the
   most fluent-strict answers, then the most strict ones, then fewer latents, then the smaller α: a recipe that makes
   the model comply without keeping the content is still a better default than one that does nothing.
The mean-difference control gets the same α grid at the recipe's layer, on the stage contents, so the baseline a
study compares against is tuned no less than the recipe.

Success is the headline verdict of `steering.evaluate`: compliant (strict), not a loop, and faithful. Every evaluation
is cached on disk (`<cache_dir>/recipes/`) so an interrupted search resumes where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.cache import JsonStore
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.keys import sae_key
from saif_ui.provenance import command_line, git_commit
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import discover, pick_contents, resolve_instruction
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import Content, contents_version, load_contents
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.judge.fidelity import FAITHFUL_QUANTILE, fidelity, mismatched_pairing, threshold
from saif_ui.saif.judge.stats import wilson_interval
from saif_ui.saif.steering.baselines import mean_difference_spec
from saif_ui.saif.steering.compare import run_modes
from saif_ui.saif.steering.evaluate import REPETITION_LIMIT, EvalConfig, Evaluation, evaluate
from saif_ui.saif.steering.recipe import Recipe
from saif_ui.saif.steering.spec import METHODS, SteeringSpec, spec_from_discovery

SEARCH_VERSION = 1
"""Bump when the search's evaluations change meaning (what is generated, how success is judged)."""
Log = Callable[[str], None]


@dataclass(frozen=True)
class SearchConfig:
    """Settings of a recipe search (see the module docstring for the stages)."""

    alphas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    """× the latents' mean activation under the instruction; up to 8 so that the top-1 (a smaller vector) is not cut
    off at the grid's edge. (A steered answer that loops runs to the length limit, so each α costs more than a
    prompted answer: the grid is kept to four points on 2 CPU cores.)"""
    ks: tuple[int, ...] = (1, 5)
    """Numbers of top latents tried (10 was dropped to fit a search into a session on 2 cores; `--ks 1,5,10`)."""
    n_stage: int = 24
    """Validation contents of the screening stages; finalists get every validation content."""
    finalists: int = 1
    """Candidates run on every validation content (1: the stage winner is confirmed on all 96)."""
    decay: float = 0.1
    max_new_tokens: int = 48
    batch_size: int = 32
    quantile: float = FAITHFUL_QUANTILE
    n_discovery: int | None = 48
    n_validation: int | None = None
    """Validation contents used in all (None: every one); fewer only for quick checks."""
    methods: tuple[str, ...] = ("add",)
    """Interventions tried (`SteeringSpec.method`); `add` is always the first stages'. The shipped recipes were
    searched with `add` alone; `--methods add,clamp,cap,orthogonal` adds a stage per other method."""

    def __post_init__(self) -> None:
        if not self.alphas or not self.ks or 5 not in self.ks:
            raise SaifError("a search needs alphas and ks, with k = 5 among them (the layer stage uses it)")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or "add" not in self.methods:
            raise SaifError(f"methods must include add and be among {', '.join(METHODS)}, not {list(self.methods)}")
        if self.n_stage < 2 or self.finalists < 1:
            raise SaifError("n_stage must be >= 2 and finalists >= 1")
        if self.n_validation is not None and self.n_validation < self.n_stage:
            raise SaifError("n_validation must be at least n_stage")

    @property
    def decoding(self) -> Decoding:
        return Decoding(max_new_tokens=self.max_new_tokens)


@dataclass(frozen=True)
class Candidate:
    """One point of the search: how the spec is built, and its successes on the contents it was run on."""

    layer: int
    k: int
    alpha: float
    positions: str = "all"
    decay: float = 0.0
    successes: int = 0
    n: int = 0
    fluent: int = 0
    """Fluent-strict answers (compliant, not a loop), faithful or not: the tie-break when nothing succeeds."""
    strict: int = 0
    method: str = "add"
    """The intervention (`SteeringSpec.method`); absent from searches before methods were searched: `add`."""

    def to_dict(self) -> dict[str, Any]:
        """Its record; `method` only when it is not `add`, so every search and study written before methods were
        searched reads (and compares) as it was."""
        d = asdict(self)
        if self.method == "add":
            del d["method"]
        return d

    @property
    def setting(self) -> tuple[int, int, float, str, float, str]:
        return self.layer, self.k, self.alpha, self.positions, self.decay, self.method


def validation_contents(n: int | None = None) -> list[Content]:
    """The validation contents, statements and paragraphs alternating (the stage takes the first `n_stage`)."""
    return pick_contents(load_contents("validation"), n)


class _Runs:
    """Evaluations of one search, cached on disk by everything that changes them."""

    def __init__(self, engine: Engine, instruction: str, cfg: SearchConfig, use_cache: bool) -> None:
        self.engine, self.instruction, self.cfg = engine, instruction, cfg
        self.store = JsonStore(Path(engine.config.cache_dir) / "recipes", enabled=use_cache)
        self.base = {
            "v": SEARCH_VERSION,
            "model": engine.config.model,
            "dtype": str(engine.loaded.dtype),
            "system_prompt": engine.chat.default_system_prompt,
            "catalogue": load_catalogue().version,
            "checkers": CHECKERS_VERSION,
            "instruction": instruction,
            "decoding": cfg.decoding.key(),
        }

    def evaluate(
        self, spec: SteeringSpec, alphas: Sequence[float], contents: Sequence[Content], tau: float
    ) -> Evaluation:
        ecfg = EvalConfig(
            alphas=tuple(alphas),
            n_contents=None,
            decoding=self.cfg.decoding,
            batch_size=self.cfg.batch_size,
            fidelity_threshold=tau,
        )
        key = {
            **self.base,
            "spec": {**spec.to_dict(), "meta": {}, "alpha": None},
            "alphas": list(alphas),
            "contents": [[c.id, c.text] for c in contents],
        }
        # The threshold only judges: cached texts and chrF scores are re-judged with it, never regenerated.
        data, _ = self.store.get_or_compute(
            "eval", key, lambda: evaluate(self.engine, self.instruction, spec, contents, ecfg).to_dict()
        )
        ev = Evaluation.from_dict(data)
        ev.config = replace(ev.config, fidelity_threshold=tau)
        return ev


def layer_spec(engine: Engine, instruction: str, sae: str, cfg: SearchConfig = SearchConfig()) -> SteeringSpec:
    """What stage 1 of the search steers at one SAE's layer: discovery's top-5 (all positions, no decay, α 1), so a
    study that sweeps it with `stage_candidates` reuses the cached evaluations `choose_recipe` ran."""
    return spec_from_discovery(discover(engine, instruction, sae, DiscoveryConfig(n_contents=cfg.n_discovery)), k=5)


def stage_candidates(
    engine: Engine,
    instruction: str,
    spec: SteeringSpec,
    tau: float,
    cfg: SearchConfig = SearchConfig(),
    *,
    use_cache: bool = True,
) -> list[Candidate]:
    """Any spec of one layer over the search's α grid on the validation stage contents, judged at threshold `tau`:
    one candidate per α (how a study tunes a method the search did not try, on the same footing)."""
    layers = sorted({e.layer for e in spec.latents} | {v.layer for v in spec.vectors})
    if len(layers) != 1:
        raise SaifError(f"a stage sweep steers one layer; this spec steers {layers or 'none'}")
    ev = stage_evaluation(engine, instruction, spec, tau, cfg, use_cache=use_cache)
    probe = Candidate(layers[0], len(spec.latents) or 1, 1.0, spec.positions, spec.decay)
    return _candidates(ev, probe, len(validation_contents(cfg.n_validation)[: cfg.n_stage]))


def stage_evaluation(
    engine: Engine,
    instruction: str,
    spec: SteeringSpec,
    tau: float,
    cfg: SearchConfig = SearchConfig(),
    *,
    alphas: Sequence[float] | None = None,
    use_cache: bool = True,
) -> Evaluation:
    """`spec` (any layers) over `alphas` (default: the search's grid) on the validation stage contents, judged at
    threshold `tau`, cached like every evaluation of the search."""
    runs = _Runs(engine, instruction, cfg, use_cache)
    stage = validation_contents(cfg.n_validation)[: cfg.n_stage]
    return runs.evaluate(spec, tuple(alphas or cfg.alphas), stage, tau)


def stage_counts(ev: Evaluation, alpha: float) -> tuple[int, int, int]:
    """Successes, fluent-strict and strict answers of a stage evaluation at `alpha`."""
    return _counts(ev, alpha)


def best_candidate(candidates: Sequence[Candidate]) -> Candidate:
    """The search's pick among `candidates` (see `_rank`)."""
    return max(candidates, key=_rank)


def fidelity_threshold(
    engine: Engine, instruction: str, contents: Sequence[Content], cfg: SearchConfig
) -> tuple[float, dict[str, Any]]:
    """The faithful threshold from the prompted answers to `contents` (validation), and what it was made of."""
    outputs, _ = run_modes(
        engine,
        instruction,
        [(c.id, c.text) for c in contents],
        SteeringSpec(),
        ["prompted"],
        decoding=cfg.decoding,
        batch_size=cfg.batch_size,
    )
    answers = [o.text for o in outputs["prompted"]]
    pairing = mismatched_pairing([c.kind for c in contents])
    among = fidelity(answers, answers, pairing, "prompted")
    tau = threshold(among.mismatched, cfg.quantile)
    # For the record: how well chrF to the content itself separates (it is not what success is judged on).
    to_content = fidelity(answers, [c.text for c in contents], pairing, "content")
    content_tau = threshold(to_content.mismatched, cfg.quantile)
    return tau, {
        "reference": "prompted",
        "quantile": cfg.quantile,
        "threshold": tau,
        "n": len(contents),
        "prompted_vs_other_prompted": round(sum(among.mismatched) / len(contents), 2),
        "prompted_to_content": round(sum(to_content.matched) / len(contents), 2),
        "prompted_to_other_content": round(sum(to_content.mismatched) / len(contents), 2),
        "prompted_faithful_to_content_at_same_quantile": round(
            sum(to_content.faithful(content_tau)) / len(contents), 4
        ),
    }


def choose_recipe(
    engine: Engine, instruction: str, cfg: SearchConfig = SearchConfig(), *, use_cache: bool = True, log: Log = print
) -> Recipe:
    """Search the recipe of `instruction` on validation contents (see the module docstring)."""
    instr = resolve_instruction(instruction)
    if not instr.checker:
        raise SaifError(f"instruction {instr.id!r} has no checker, so no recipe can be chosen for it")
    start = time.perf_counter()
    runs = _Runs(engine, instr.id, cfg, use_cache)
    contents = validation_contents(cfg.n_validation)
    stage, rest = contents[: cfg.n_stage], contents[cfg.n_stage :]
    tau, tau_about = fidelity_threshold(engine, instr.id, contents, cfg)
    log(f"{instr.id}: faithful at chrF to the prompted answer >= {tau}")
    names = {s.layer: s.name for s in engine.saes.values()}
    if not names:
        raise SaifError("no SAE is attached, so there is nothing to steer with")
    dcfg = DiscoveryConfig(n_contents=cfg.n_discovery)
    found = {layer: discover(engine, instr.id, names[layer], dcfg) for layer in sorted(names)}
    tried: dict[tuple[int, int, float, str, float, str], Candidate] = {}

    def spec_of(c: Candidate) -> SteeringSpec:
        base = spec_from_discovery(found[c.layer], k=c.k, positions=c.positions)  # type: ignore[arg-type]
        return replace(base, decay=c.decay, method=c.method)  # type: ignore[arg-type]  # checked by the spec

    def sweep(
        layer: int, k: int, alphas: Sequence[float], positions: str = "all", decay: float = 0.0, method: str = "add"
    ) -> None:
        probe = Candidate(layer, k, 1.0, positions, decay, method=method)
        swept = _candidates(runs.evaluate(spec_of(probe), alphas, stage, tau), probe, len(stage))
        tried.update((c.setting, c) for c in swept)
        best = max(swept, key=_rank)
        log(
            f"{instr.id}: L{layer} k={k} {positions} decay={decay} {method}: best α {best.alpha} "
            f"(success {best.successes}/{best.n}, fluent strict {best.fluent}/{best.n})"
        )

    for layer in sorted(names):
        sweep(layer, 5, cfg.alphas)
    layer = max((c for c in tried.values()), key=_rank).layer
    for k in cfg.ks:
        if k != 5:
            sweep(layer, k, cfg.alphas)
    lead = max(tried.values(), key=_rank)
    sweep(lead.layer, lead.k, [lead.alpha], positions="generated")
    sweep(lead.layer, lead.k, [2 * lead.alpha], decay=cfg.decay)
    lead = max(tried.values(), key=_rank)
    for method in cfg.methods:
        if method != "add":
            sweep(lead.layer, lead.k, cfg.alphas, lead.positions, lead.decay, method)
    finalists = sorted(tried.values(), key=_rank, reverse=True)[: cfg.finalists]
    final: list[Candidate] = []
    for c in finalists:
        ev = runs.evaluate(spec_of(c), [c.alpha], rest, tau) if rest else None
        more, fluent, strict = _counts(ev, c.alpha) if ev else (0, 0, 0)
        final.append(
            replace(
                c,
                successes=c.successes + more,
                n=c.n + len(rest),
                fluent=c.fluent + fluent,
                strict=c.strict + strict,
            )
        )
        log(
            f"{instr.id}: finalist L{c.layer} k={c.k} α={c.alpha} {c.positions} {c.method}: "
            f"{final[-1].successes}/{final[-1].n}"
        )
    chosen = max(final, key=_rank)
    controls = _tune_mean_difference(engine, runs, instr.id, chosen, dcfg, cfg, stage, tau)
    spec = replace(spec_of(chosen), alpha=chosen.alpha)
    low, high = wilson_interval(chosen.successes, chosen.n)
    return Recipe(
        instruction=instr.id,
        method="saif_topk",
        spec=spec,
        k=chosen.k,
        fidelity_threshold=tau,
        validation={
            "n": chosen.n,
            "successes": chosen.successes,
            "success": round(chosen.successes / chosen.n, 4),
            "fluent_strict": round(chosen.fluent / chosen.n, 4),
            "strict": round(chosen.strict / chosen.n, 4),
            "ci": [round(low, 4), round(high, 4)],
            "fidelity": tau_about,
            "controls": controls,
            "finalists": [c.to_dict() for c in final],
            "candidates": [c.to_dict() for c in sorted(tried.values(), key=lambda c: c.setting)],
        },
        # Through JSON, so the recipe equals itself read back from assets/recipes.json (tuples become lists).
        provenance=json.loads(json.dumps(_provenance(engine, names[chosen.layer], cfg, start))),
    )


def _provenance(engine: Engine, sae: str, cfg: SearchConfig, start: float) -> dict[str, Any]:
    return {
        "git_commit": git_commit(),
        "command": command_line(),
        "model": engine.config.model,
        "sae": sae_key(engine, sae),
        "contents": {"discovery": contents_version("discovery"), "validation": contents_version("validation")},
        "catalogue": load_catalogue().version,
        "checkers": CHECKERS_VERSION,
        "search": {**asdict(cfg), "version": SEARCH_VERSION},
        "repetition_limit": REPETITION_LIMIT,
        "seconds": round(time.perf_counter() - start, 1),
    }


def _candidates(ev: Evaluation, probe: Candidate, n: int) -> list[Candidate]:
    """`probe`'s setting at each α of `ev` (run on `n` contents), with its counts there."""
    out = []
    for a in ev.alphas:
        won, fluent, strict = _counts(ev, a)
        out.append(replace(probe, alpha=a, successes=won, n=n, fluent=fluent, strict=strict))
    return out


def _counts(ev: Evaluation, alpha: float) -> tuple[int, int, int]:
    """Successes, fluent-strict and strict answers of the evaluation at `alpha`."""
    items = ev.steered[alpha]
    return (
        sum(ev.verdicts(items)),
        sum(ev.verdicts(items, "fluent_strict")),
        sum(ev.verdicts(items, "strict")),
    )


def _rank(c: Candidate) -> tuple[float, float, float, int, float]:
    """Most successes first (as rates, so stage and final candidates compare), then the most fluent-strict answers,
    then the most strict ones, then fewer latents, then the smaller α."""
    n = c.n or 1
    return (c.successes / n, c.fluent / n, c.strict / n, -c.k, -c.alpha)


def _tune_mean_difference(
    engine: Engine,
    runs: _Runs,
    instruction: str,
    chosen: Candidate,
    dcfg: DiscoveryConfig,
    cfg: SearchConfig,
    stage: Sequence[Content],
    tau: float,
) -> dict[str, Any]:
    """The mean-difference control's α, chosen on the stage contents over the same grid as the recipe's, applied
    at the recipe's layer, positions and decay."""
    raw = mean_difference_spec(engine, instruction, chosen.layer, dcfg, positions=chosen.positions)
    spec = replace(raw, decay=chosen.decay)
    ev = runs.evaluate(spec, cfg.alphas, stage, tau)
    best = max(ev.alphas, key=lambda a: (*_counts(ev, a), -a))  # the recipe's own ranking, ties included
    return {
        "mean_difference": {
            "layer": chosen.layer,
            "positions": chosen.positions,
            "decay": chosen.decay,
            "alpha": best,
            "n": len(stage),
            "successes": {str(a): _counts(ev, a)[0] for a in ev.alphas},
            "fluent_strict": {str(a): _counts(ev, a)[1] for a in ev.alphas},
        }
    }
