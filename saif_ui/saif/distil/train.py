"""Prompt distillation: train the vector that makes the model, given the content alone, do what it does when told.

The vector is added to block `layer`'s output at the configured positions (`all`, or `generated`: the last prompt
token onwards), constant (no decay): exactly what its `SteeringSpec` adds at inference, so what is trained is what
is applied. Below `layer` nothing changes, so
the residual there is recorded once per batch and each step replays only the blocks above it (`engine.replay`).

Loss, averaged over every answer position of every training content:
  - `kl`: KL(teacher ‖ student) over the teacher's top-K tokens plus one tail bucket (the rest of the vocabulary);
  - `ce`: −log student(answer token), the prompted answer's tokens only.
Each step is one Adam step on the whole training set; after it the vector is scaled back to `max_norm` if longer.
Every `eval_every` steps the vector steers the validation contents and is judged as in every study (strict, not a
loop, faithful); the best check is the result, and `patience` checks without a better one stop training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.replay import Above
from saif_ui.engine.results import pad_stack
from saif_ui.saif.discovery.discover import pick_contents, resolve_instruction
from saif_ui.saif.distil.basis import FreeVector, LatentCombination, candidate_latents, unit_directions
from saif_ui.saif.distil.config import DistilConfig
from saif_ui.saif.distil.teacher import Example, teacher_examples
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.inputs.contents import Content, load_contents
from saif_ui.saif.steering.evaluate import EvalConfig, evaluate
from saif_ui.saif.steering.recipe import recipe_for
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent, SteerVector

DEFAULT = DistilConfig()
Log = Callable[[str], None]
Progress = Callable[[dict[str, Any]], None]
"""Called with each step's record (and each check's): what a live plot draws."""


@dataclass(frozen=True)
class Check:
    """One validation check of the vector as it was at `step`."""

    step: int
    n: int
    successes: int
    fluent: int
    strict: int
    loss: float

    @property
    def rank(self) -> tuple[int, int, int, float]:
        return self.successes, self.fluent, self.strict, -self.loss


@dataclass
class Distilled:
    """A trained vector, how it was made and how it did on validation."""

    instruction: str
    layer: int
    config: DistilConfig
    vector: torch.Tensor
    """[d_model], fp32: what is added at `layer`."""
    sae: str | None
    """The SAE of the `sae` basis (and of the reading); None when no SAE reads `layer`."""
    latents: list[int] = field(default_factory=list)
    coefficients: list[float] = field(default_factory=list)
    """`sae` basis: strength of each latent's unit direction (the spec's strengths)."""
    candidates: dict[str, list[int]] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    best_step: int = 0
    fidelity_threshold: float | None = None
    seconds: float = 0.0
    answers: list[str] = field(default_factory=list)
    """The prompted answers the vector was distilled from (training contents)."""

    @property
    def norm(self) -> float:
        return float(self.vector.norm())

    def spec(self) -> SteeringSpec:
        """The spec that adds this vector: the latents' unit directions × coefficients (`sae`), else the raw vector;
        α = 1, at the positions it was trained at, no decay."""
        meta = {
            "instruction": self.instruction,
            "method": f"distil_{self.config.basis}",
            "objective": self.config.objective,
        }
        if self.config.basis == "sae":
            assert self.sae is not None
            latents = tuple(
                SteerLatent(sae=self.sae, layer=self.layer, latent=i, strength=c)
                for i, c in zip(self.latents, self.coefficients, strict=True)
            )
            return SteeringSpec(latents=latents, scale="unit", positions=self.config.positions, meta=meta)
        vector = SteerVector(self.layer, tuple(float(x) for x in self.vector), label=f"distil_free:{self.instruction}")
        return SteeringSpec(vectors=(vector,), positions=self.config.positions, meta=meta)

    def summary(self) -> dict[str, Any]:
        best = next((c for c in self.checks if c.step == self.best_step), None)
        return {
            "instruction": self.instruction,
            "layer": self.layer,
            "basis": self.config.basis,
            "objective": self.config.objective,
            "sae": self.sae,
            "norm": round(self.norm, 3),
            "latents": self.latents,
            "coefficients": [round(c, 4) for c in self.coefficients],
            "best_step": self.best_step,
            "validation": asdict(best) if best else None,
            "fidelity_threshold": self.fidelity_threshold,
            "final_loss": self.history[-1]["loss"] if self.history else None,
            "seconds": round(self.seconds, 1),
        }


def default_layer(engine: Engine) -> int:
    """The attached SAE's layer nearest half depth (ties: the shallower), else half depth itself."""
    layers = sorted({engine.sae(n).layer for n in engine.sae_names()})
    half = engine.n_layers // 2
    return min(layers, key=lambda x: (abs(x - half), x)) if layers else half


def training_contents(n: int) -> list[Content]:
    return pick_contents(load_contents("discovery"), n)


def validation_contents(n: int) -> list[Content]:
    """The first `n` validation contents (statements and paragraphs alternating), as the recipe search's stage."""
    return pick_contents(load_contents("validation"), n)


@dataclass
class _Batch:
    above: Above
    rows: torch.Tensor
    """[B, T] bool: the positions that predict answer tokens, in the order of the targets below."""
    top_ids: torch.Tensor
    top_logp: torch.Tensor
    tail_logp: torch.Tensor
    answer: torch.Tensor
    where: torch.Tensor | None
    """[B, T, 1] float: 1 where the vector is added (positions `generated`); None: every position."""
    weight: float
    """This batch's share of all answer positions (its mean loss × weight sums to the mean over all)."""


def _batches(
    engine: Engine, layer: int, examples: Sequence[Example], batch_size: int, positions: str = "all"
) -> list[_Batch]:
    total = sum(ex.answer.shape[0] for ex in examples)
    out = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        rows, _ = pad_stack([ex.student_targets for ex in chunk])
        device = engine.loaded.device
        # `generated`: the last prompt token onwards, as `Steering` defines it (the targets and the last token)
        later, _ = pad_stack([ex.student_targets.roll(1) | ex.student_targets for ex in chunk])
        out.append(
            _Batch(
                above=engine.above(layer, [ex.student for ex in chunk]),
                rows=rows.to(device),
                top_ids=torch.cat([ex.top_ids for ex in chunk]).to(device),
                top_logp=torch.cat([ex.top_logp for ex in chunk]).to(device),
                tail_logp=torch.cat([ex.tail_logp for ex in chunk]).to(device),
                answer=torch.cat([ex.answer for ex in chunk]).to(device),
                where=later[..., None].float().to(device) if positions == "generated" else None,
                weight=sum(ex.answer.shape[0] for ex in chunk) / total,
            )
        )
    return out


def _loss(batch: _Batch, delta: torch.Tensor, objective: str) -> torch.Tensor:
    """The batch's mean loss per answer position when `delta` is added at every position."""
    resid = batch.above.resid
    added = delta if batch.where is None else batch.where * delta
    logits = batch.above.logits(resid + added.to(resid.dtype), batch.rows)
    logq = torch.log_softmax(logits, dim=-1)
    if objective == "ce":
        return -logq.gather(-1, batch.answer[:, None])[:, 0].mean()
    q_top = logq.gather(-1, batch.top_ids)
    q_tail = torch.logsumexp(logq.scatter(-1, batch.top_ids, float("-inf")), dim=-1)
    p_top, p_tail = batch.top_logp.exp(), batch.tail_logp.exp()
    kl = (p_top * (batch.top_logp - q_top)).sum(-1) + p_tail * (batch.tail_logp - q_tail)
    return kl.mean()


def _step(
    param: FreeVector | LatentCombination, batches: Sequence[_Batch], objective: str, l1: float
) -> tuple[float, list[torch.Tensor]]:
    """The loss over every batch and its gradient with respect to `param`'s parameters (only those: the model's
    weights get none)."""
    params = list(param.parameters())
    grads = [torch.zeros_like(p) for p in params]
    total = 0.0
    with torch.enable_grad():
        for b in batches:
            loss = _loss(b, param(), objective) * b.weight
            for g, d in zip(grads, torch.autograd.grad(loss, params), strict=True):
                g += d
            total += float(loss.detach())
        if l1 > 0:
            pen = l1 * param.penalty()
            for g, d in zip(grads, torch.autograd.grad(pen, params, allow_unused=True), strict=True):
                if d is not None:
                    g += d
            total += float(pen.detach())
    return total, grads


def distil(
    engine: Engine,
    instruction: Instruction | str,
    cfg: DistilConfig = DEFAULT,
    *,
    fidelity_threshold: float | None = None,
    log: Log | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
) -> Distilled:
    """Distil `instruction` into a vector at `cfg.layer` (see the module docstring).

    Args:
        fidelity_threshold: chrF to the prompted answer a validation answer needs to count as faithful; None: the
            instruction's shipped recipe's (chosen on all validation contents), else checks rank by fluent-strict.
        stop: polled between steps; True ends training and returns the best vector so far.
    """
    start = time.perf_counter()
    say = log or (lambda _msg: None)
    instr = resolve_instruction(instruction)
    if not instr.checker and cfg.n_val:
        raise SaifError(f"instruction {instr.id!r} has no checker, so validation cannot judge it (use n_val 0)")
    layer = cfg.layer if cfg.layer is not None else default_layer(engine)
    if not 0 <= layer < engine.n_layers:
        raise SaifError(f"layer {layer} is out of range 0..{engine.n_layers - 1}")
    at_layer = [n for n in engine.sae_names() if engine.sae(n).layer == layer]
    if cfg.basis == "sae" and not at_layer:
        raise SaifError(f"the sae basis needs an SAE reading layer {layer}; attach one or use --basis free")
    sae = at_layer[0] if at_layer else None
    recipe = recipe_for(instr.id)
    tau = fidelity_threshold if fidelity_threshold is not None else (recipe.fidelity_threshold if recipe else None)
    torch.manual_seed(cfg.seed)

    examples = teacher_examples(
        engine,
        instr,
        training_contents(cfg.n_train),
        answer_tokens=cfg.answer_tokens,
        top_k=cfg.teacher_top_k,
        batch_size=cfg.batch_size,
    )
    say(f"{instr.id}: {len(examples)} prompted answers, {sum(e.answer.shape[0] for e in examples)} target tokens")
    batches = _batches(engine, layer, examples, cfg.batch_size, cfg.positions)
    out = Distilled(
        instruction=instr.id,
        layer=layer,
        config=cfg,
        vector=torch.zeros(engine.d_model),
        sae=sae,
        fidelity_threshold=tau,
        answers=[e.answer_text for e in examples],
    )
    val = validation_contents(cfg.n_val) if cfg.n_val else []

    param: FreeVector | LatentCombination
    phases: list[tuple[int, float, bool]]  # (steps, l1, checked)
    if cfg.basis == "sae":
        assert sae is not None
        ids, out.candidates = candidate_latents(engine, instr, sae, examples, cfg.candidates, cfg.n_discovery)
        param = LatentCombination(ids, unit_directions(engine, sae, ids).to(engine.loaded.device))
        phases = [(cfg.steps - cfg.refit_steps, cfg.l1, False), (cfg.refit_steps, 0.0, True)]
    else:
        param = FreeVector(engine.d_model).to(engine.loaded.device)
        phases = [(cfg.steps, 0.0, True)]

    best: Check | None = None
    since_best = 0
    step = 0
    stopped = False
    for phase, (n_steps, l1, checked) in enumerate(phases):
        if phase == 1 and isinstance(param, LatentCombination):
            param = param.pruned(cfg.keep)
            say(f"{instr.id}: kept {len(param.latents)} latents: {param.latents}")
        opt = torch.optim.Adam(param.parameters(), lr=_lr(cfg.lr, param, engine.d_model))
        if checked and val and isinstance(param, LatentCombination):
            best, since_best = _check(engine, instr, out, param, val, tau, step, math.nan, best, since_best, progress)
        for _ in range(n_steps):
            if stop is not None and stop():
                stopped = True
                break
            loss, grads = _step(param, batches, cfg.objective, l1)
            for p, g in zip(param.parameters(), grads, strict=True):
                p.grad = g
            opt.step()
            norm = float(param().detach().norm())
            if norm > cfg.max_norm:
                param.shrink(cfg.max_norm / norm)
                norm = cfg.max_norm
            step += 1
            record = {"step": step, "loss": round(loss, 5), "norm": round(norm, 3)}
            if isinstance(param, LatentCombination):
                record["nonzero"] = param.nonzero()
            out.history.append(record)
            if progress:
                progress(record)
            if checked and val and step % cfg.eval_every == 0:
                best, since_best = _check(engine, instr, out, param, val, tau, step, loss, best, since_best, progress)
                if since_best >= cfg.patience:
                    say(f"{instr.id}: no better check in {cfg.patience}; stopping at step {step}")
                    stopped = True
                    break
        if stopped:
            break
    if not val or best is None:
        _keep(out, param, step)
    elif out.best_step != step and step % cfg.eval_every and not stopped:
        best, _ = _check(engine, instr, out, param, val, tau, step, loss, best, since_best, progress)
    out.seconds = time.perf_counter() - start
    say(f"{instr.id}: best step {out.best_step}, norm {out.norm:.1f}, {out.seconds:.0f} s")
    return out


def _lr(lr: float, param: FreeVector | LatentCombination, d_model: int) -> float:
    """The step size of `param`'s entries. Adam moves each entry by about `lr` per step, so a free vector's norm
    moves by about lr·√d_model and n coefficients of near-orthogonal unit directions by lr·√n: coefficients get
    lr·√(d_model / n), so both bases can reach the same norm in the same number of steps."""
    if isinstance(param, LatentCombination):
        return lr * math.sqrt(d_model / len(param.latents))
    return lr


def _keep(out: Distilled, param: FreeVector | LatentCombination, step: int) -> None:
    out.vector = param().detach().float().cpu().clone()
    out.best_step = step
    if isinstance(param, LatentCombination):
        out.latents = list(param.latents)
        out.coefficients = [float(c) for c in param.coef.detach().cpu()]


def _check(
    engine: Engine,
    instr: Instruction,
    out: Distilled,
    param: FreeVector | LatentCombination,
    val: Sequence[Content],
    tau: float | None,
    step: int,
    loss: float,
    best: Check | None,
    since_best: int,
    progress: Progress | None,
) -> tuple[Check, int]:
    """Steer the validation contents with the current vector; keep it in `out` when it is the best so far."""
    candidate = Distilled(
        instruction=out.instruction, layer=out.layer, config=out.config, vector=out.vector, sae=out.sae
    )
    _keep(candidate, param, step)
    ecfg = EvalConfig(
        alphas=(1.0,),
        n_contents=None,
        decoding=Decoding(max_new_tokens=out.config.answer_tokens),
        batch_size=32,
        fidelity_threshold=tau,
    )
    ev = evaluate(engine, instr.id, candidate.spec(), val, ecfg)
    items = ev.steered[1.0]
    successes = sum(ev.verdicts(items)) if tau is not None else 0
    check = Check(
        step=step,
        n=len(items),
        successes=successes,
        fluent=sum(ev.verdicts(items, "fluent_strict")),
        strict=sum(ev.verdicts(items, "strict")),
        loss=loss if math.isfinite(loss) else math.inf,
    )
    out.checks.append(check)
    if progress:
        progress({"step": step, "check": asdict(check)})
    if best is None or check.rank > best.rank:
        _keep(out, param, step)
        return check, 0
    return best, since_best + 1
