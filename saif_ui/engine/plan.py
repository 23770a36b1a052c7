"""Will it fit? The memory a configuration needs, planned from config files alone, before anything is loaded.

The parts (their sizes from `engine.shapes`): the weights at the chosen dtype, the KV cache and the activations at
the app's limits (prompt limit, new tokens, batch), the SAEs, and the in-memory caches' budgets; against the device:
the free memory of each GPU, or the machine's RAM. `Engine.load` refuses a configuration that cannot serve one
request at the limits; `python -m saif_ui info --plan-only` prints the plan.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch

from saif_ui.engine.config import SKIP_MEMORY_PLAN_ENV, EngineConfig
from saif_ui.engine.decoding import MAX_NEW_TOKENS
from saif_ui.engine.errors import SaifError
from saif_ui.engine.model import pick_device, pick_dtype
from saif_ui.engine.shapes import ModelShape, PlanUnavailable, SaePlan, meta_model, read_model_config

log = logging.getLogger(__name__)

GB = 10**9
PLAN_BATCH = 32
"""Rows generated at once by the largest runs the app makes: evaluations and studies batch 32 answers
(`EvalConfig.batch_size`, the studies' `BATCH_SIZE`)."""


class DoesNotFit(SaifError):
    """The configuration cannot fit the device: the message is the plan, with what would make it fit."""


# ---------------------------------------------------------------- capacity, limits


@dataclass(frozen=True)
class Capacity:
    """What the device offers: the free memory of each GPU, or the machine's RAM (CPU and MPS, whose memory is the
    RAM). Injectable, to plan for another machine (`info --gpu-gb`) and in tests."""

    device: Literal["cuda", "mps", "cpu"]
    gpus: tuple[int, ...] = ()
    """Free bytes on each GPU (cuda only)."""
    ram: int = 0
    """The machine's RAM in bytes (its total: what is free changes with every other program)."""

    @classmethod
    def detect(cls, device: str = "auto") -> Capacity:
        """This machine's, for `device` as `EngineConfig.device` names it."""
        import psutil

        dev = pick_device(device)
        ram = int(psutil.virtual_memory().total)
        if dev.type == "cuda":
            return cls("cuda", tuple(int(torch.cuda.mem_get_info(i)[0]) for i in range(torch.cuda.device_count())), ram)
        return cls("mps" if dev.type == "mps" else "cpu", (), ram)


@dataclass(frozen=True)
class Limits:
    """The largest run the plan must hold: `batch` rows of a `prompt_tokens` prompt and `new_tokens` new ones."""

    prompt_tokens: int
    new_tokens: int = MAX_NEW_TOKENS
    batch: int = PLAN_BATCH

    def __post_init__(self) -> None:
        if min(self.prompt_tokens, self.new_tokens, self.batch) < 1:
            raise SaifError(f"the plan's limits must be >= 1, not {self}")


# ---------------------------------------------------------------- the plan


def _gb(n: float) -> str:
    return f"{n / GB:.2f} GB"


@dataclass(frozen=True)
class MemoryPlan:
    """The memory a configuration needs, part by part in bytes, against its device. The parts are computed from
    the inputs, so `dataclasses.replace(plan, dtype="bfloat16")` is the plan of that other choice."""

    model: str
    shape: ModelShape
    dtype: Literal["float32", "bfloat16", "float16"]
    limits: Limits
    capacity: Capacity
    saes: tuple[SaePlan, ...] = ()
    caches: int = 0
    """The in-memory caches' byte budgets (encodings, generations, results), held in RAM whatever the device."""
    device_map: Literal["none", "auto"] | None = None
    """`EngineConfig.device_map`: None lets the plan decide (see `spread`)."""

    @property
    def dtype_bytes(self) -> int:
        return 4 if self.dtype == "float32" else 2

    @property
    def weights(self) -> int:
        return self.shape.n_params * self.dtype_bytes

    def kv_cache_at(self, batch: int) -> int:
        tokens = batch * (self.limits.prompt_tokens + self.limits.new_tokens)
        return self.shape.kv_bytes_per_token(self.dtype_bytes) * tokens

    def activations_at(self, batch: int) -> int:
        """The prefill's peak inside a block, plus each row's last-position logits in float32 (and their softmax)."""
        per_token = self.shape.activation_bytes_per_token(self.dtype_bytes)
        return batch * (self.limits.prompt_tokens * per_token + 2 * 4 * self.shape.vocab)

    @property
    def kv_cache(self) -> int:
        return self.kv_cache_at(self.limits.batch)

    @property
    def activations(self) -> int:
        return self.activations_at(self.limits.batch)

    @property
    def sae_bytes(self) -> int:
        return sum(s.bytes for s in self.saes)

    def need_at(self, batch: int) -> int:
        """Bytes on the device for `batch` rows at the limits; on CPU and MPS the caches share that memory."""
        on_device = self.weights + self.kv_cache_at(batch) + self.activations_at(batch) + self.sae_bytes
        return on_device + (0 if self.capacity.device == "cuda" else self.caches)

    @property
    def total(self) -> int:
        """Everything at the limits: the device's part and the caches, wherever they are."""
        return self.need_at(self.limits.batch) + (self.caches if self.capacity.device == "cuda" else 0)

    @property
    def spread(self) -> bool:
        """Whether the model is spread over the GPUs (`device_map="auto"`): when asked, or, when left to the plan,
        when several GPUs hold what GPU 0 alone cannot."""
        if self.capacity.device != "cuda" or self.device_map == "none":
            return False
        if self.device_map == "auto":
            return True
        alone = replace(self, device_map="none")
        return len(self.capacity.gpus) > 1 and not alone.fits

    @property
    def available(self) -> int:
        """The device's memory the plan may use: the free memory of GPU 0, or of every GPU when spread; the RAM."""
        if self.capacity.device != "cuda":
            return self.capacity.ram
        gpus = self.capacity.gpus
        return sum(gpus) if self.spread else (gpus[0] if gpus else 0)

    def _fits_at(self, batch: int) -> bool:
        host = self.caches if self.capacity.device == "cuda" else 0
        return self.need_at(batch) <= self.available and host <= self.capacity.ram

    @property
    def fits(self) -> bool:
        """Everything at the limits fits: the weights, SAEs and caches beside `limits.batch` rows' KV cache."""
        return self._fits_at(self.limits.batch)

    @property
    def fits_one(self) -> bool:
        """One request at the limits fits (a single row): below this, nothing the app does can run."""
        return self._fits_at(1)

    def max_batch(self) -> int:
        """The most rows at the limits that fit (0: not even one)."""
        return max((b for b in range(1, self.limits.batch + 1) if self._fits_at(b)), default=0)

    def max_prompt_tokens(self, batch: int) -> int:
        """The largest prompt limit, a power of two from 8 up, with which `batch` rows fit (0 when none does)."""
        fitting = [p for p in (2**k for k in range(3, 20)) if p <= self.limits.prompt_tokens]
        ok = [p for p in fitting if replace(self, limits=replace(self.limits, prompt_tokens=p))._fits_at(batch)]
        return max(ok, default=0)

    # ------------------------------------------------------------ in words

    def _where(self) -> str:
        if self.capacity.device != "cuda":
            return "the RAM"
        return f"the {len(self.capacity.gpus)} GPUs together" if self.spread else "GPU 0"

    def _capacity(self) -> str:
        if self.capacity.device != "cuda":
            return f"the machine's RAM; device {self.capacity.device}"
        free = ", ".join(f"cuda:{i} {_gb(n)} free" for i, n in enumerate(self.capacity.gpus))
        return f"{self._where()}; {free or 'no GPU'}; RAM {_gb(self.capacity.ram)}"

    def suggestions(self) -> list[str]:
        """What would make it fit, each with how much it saves and whether that alone is enough (empty: it fits)."""
        if self.fits:
            return []
        batch = self.limits.batch if self.fits_one else 1

        def outcome(other: MemoryPlan) -> str:
            if other._fits_at(batch):
                return "fits"
            return f"still {_gb(other.need_at(batch) - other.available)} short"

        need, lim, gpus = self.need_at(batch), self.limits, self.capacity.gpus
        out = []
        if self.dtype == "float32":
            half = replace(self, dtype="bfloat16")
            saved = _gb(need - half.need_at(batch))
            slow = " (slow on most CPUs)" if self.capacity.device == "cpu" else ""
            out.append(f"bfloat16 instead of float32 (SAIF_DTYPE=bfloat16){slow}: saves {saved}, {outcome(half)}")
        if self.sae_bytes:
            bare = outcome(replace(self, saes=()))
            out.append(f"fewer SAEs (SAIF_SAES): the {len(self.saes)} take {_gb(self.sae_bytes)}; without them, {bare}")
        if self.capacity.device == "cuda" and len(gpus) > 1 and not self.spread:
            wide = outcome(replace(self, device_map="auto"))
            out.append(f'device_map="auto" across the {len(gpus)} GPUs ({_gb(sum(gpus))} free together): {wide}')
        if batch > 1:
            rows = f"{self.max_batch()} rows of {lim.prompt_tokens:,} + {lim.new_tokens:,} tokens fit"
            out.append(f"a smaller batch or shorter answers: {rows} (the plan assumes {lim.batch}, the evaluations')")
        prompt = self.max_prompt_tokens(batch)
        if 0 < prompt < lim.prompt_tokens:
            out.append(f"SAIF_MAX_PROMPT_TOKENS={prompt} (now {lim.prompt_tokens:,}): less KV cache and activations")
        if self.capacity.device != "cuda" and self.caches and replace(self, caches=0)._fits_at(batch):
            out.append(f"smaller caches (SAIF_ENCODE_CACHE_MB and the others): their budgets take {_gb(self.caches)}")
        if not self.fits_one:
            out.append(f"{SKIP_MEMORY_PLAN_ENV}=1 loads it anyway (on a GPU, accelerate offloads what does not fit)")
        return out

    def explain(self) -> str:
        """The plan in words: each part in GB, the total against the device, and what would make it fit."""
        s, lim, b = self.shape, self.limits, self.dtype_bytes
        count = "counted on the meta device" if s.counted else "estimated by the Llama formula"
        sae_names = ", ".join(
            f"{Path(p.source).name} {_gb(p.bytes)}" + ("" if p.how == "cfg.json" else f" ({p.how})") for p in self.saes
        )
        lines = [
            f"Memory plan for {self.model} (config: {s.source})",
            f"  {s.n_params / 1e9:.2f} B parameters ({count}), {self.dtype} ({b} bytes); limits: {lim.batch} rows × "
            f"({lim.prompt_tokens:,} prompt + {lim.new_tokens:,} new) tokens",
            f"  weights       {_gb(self.weights):>10}",
            f"  KV cache      {_gb(self.kv_cache):>10}  ({s.kv_bytes_per_token(b) / 1e3:,.1f} kB a token × "
            f"{lim.batch * (lim.prompt_tokens + lim.new_tokens):,} tokens)",
            f"  activations   {_gb(self.activations):>10}  (a prefill of {lim.batch} × {lim.prompt_tokens:,} tokens; "
            "an estimate)",
            f"  SAEs          {_gb(self.sae_bytes):>10}  ({sae_names or 'none'})",
            f"  caches        {_gb(self.caches):>10}  (budgets of the in-memory caches, in RAM)",
            f"  total         {_gb(self.total):>10}",
            f"  one request   {_gb(self.need_at(1)):>10}  (1 row × {lim.prompt_tokens + lim.new_tokens:,} tokens)",
            f"  available     {_gb(self.available):>10}  ({self._capacity()})",
        ]
        if self.spread:
            lines.append(f"  device_map    auto: {describe_layers(self)}")
        notes = [p.source for p in self.saes if p.how == "unknown"]
        if notes:
            lines.append(f"  not counted: {', '.join(notes)} (no cfg.json to read before loading)")
        if self.fits:
            lines.append("Fits.")
        elif self.fits_one:
            lines.append(
                f"Serves one request, but {lim.batch} rows at the limits need {_gb(self.need_at(lim.batch))} of "
                f"{_gb(self.available)}: large evaluations may run out of memory. What would make it fit:"
            )
        else:
            lines.append(
                f"Does not fit: one request needs {_gb(self.need_at(1))}, and {self._where()} has "
                f"{_gb(self.available)}. What would make it fit:"
            )
        lines += [f"  - {line}" for line in self.suggestions()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON: inputs, parts in bytes, verdicts and suggestions."""
        return {
            "model": self.model,
            "config": self.shape.source,
            "n_params": self.shape.n_params,
            "params_counted": self.shape.counted,
            "dtype": self.dtype,
            "limits": asdict(self.limits),
            "bytes": {
                "weights": self.weights,
                "kv_cache": self.kv_cache,
                "activations": self.activations,
                "saes": self.sae_bytes,
                "caches": self.caches,
                "one_request": self.need_at(1),
                "available": self.available,
            },
            "saes": [{**asdict(p), "bytes": p.bytes} for p in self.saes],
            "capacity": asdict(self.capacity),
            "spread": self.spread,
            "fits": self.fits,
            "fits_one_request": self.fits_one,
            "max_batch": self.max_batch(),
            "suggestions": self.suggestions(),
        }


# ---------------------------------------------------------------- making plans


def plan_memory(
    config: EngineConfig,
    *,
    capacity: Capacity | None = None,
    limits: Limits | None = None,
) -> MemoryPlan:
    """Plan `config`'s memory from config files alone (see the module docstring).

    Args:
        config: the engine's settings (model, SAEs, device, dtype, device_map, caches, prompt limit).
        capacity: the device to plan for; default: this machine's (`Capacity.detect(config.device)`).
        limits: the run to hold; default: `PLAN_BATCH` rows of `config.max_prompt_tokens` + `MAX_NEW_TOKENS` tokens.

    Raises `PlanUnavailable` when the model's config.json is not on this machine.

    Example: `plan_memory(EngineConfig(model="meta-llama/Llama-3.1-8B"), capacity=Capacity("cuda", (24 * GB,)))`.
    """
    capacity = capacity or Capacity.detect(config.device)
    raw, source = read_model_config(config.model, config.cache_dir)
    shape = ModelShape.from_config(raw, source)
    dtype = pick_dtype(torch.device(capacity.device), config.dtype)
    return MemoryPlan(
        model=config.model,
        shape=shape,
        dtype={torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[dtype],  # type: ignore[arg-type]
        limits=limits or Limits(prompt_tokens=config.max_prompt_tokens),
        capacity=capacity,
        saes=tuple(SaePlan.of(s, shape.hidden) for s in config.saes),
        caches=config.encode_cache_bytes + config.generation_cache_bytes + config.result_cache_bytes,
        device_map=config.device_map,
    )


def preflight(config: EngineConfig) -> Literal["none", "auto"] | None:
    """Plan before loading: refuse (`DoesNotFit`) a configuration that cannot serve one request, warn when the full
    limits do not fit, and return the `device_map` to load with (the plan's decision when the config leaves it
    open). Skipped with `config.check_memory` off, or when the plan cannot be made here (loading then decides)."""
    if not config.check_memory:
        return config.device_map
    try:
        plan = plan_memory(config)
    except PlanUnavailable as e:
        log.info("memory plan skipped: %s", e)
        return config.device_map
    if not plan.fits_one:
        raise DoesNotFit(f"{config.model} cannot be loaded here: it does not fit.\n{plan.explain()}")
    if not plan.fits:
        log.warning("%s", plan.explain())
    if plan.capacity.device == "cuda" and config.device_map is None:
        return "auto" if plan.spread else "none"
    return config.device_map


# ---------------------------------------------------------------- a spread model's layers


def split(plan: MemoryPlan) -> dict[str, int | str]:
    """Which module goes to which GPU when the plan spreads the model: accelerate's balanced map (as
    `device_map="auto"` computes it) over the GPUs' free memory, less each GPU's share of one request's KV cache,
    activations and SAEs. Modules that fit no GPU go to "cpu" or "disk"."""
    from accelerate import infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    model = meta_model(plan.shape.config)
    dtype = getattr(torch, plan.dtype)
    # Each GPU keeps its share of what one request needs beside the weights: the guarantee `preflight` makes.
    other = plan.need_at(1) - plan.weights
    share = max(0.0, 1.0 - other / max(sum(plan.capacity.gpus), 1))
    budget: dict[int | str, int] = {i: int(free * share) for i, free in enumerate(plan.capacity.gpus)}
    no_split = list(getattr(model, "_no_split_modules", None) or [])
    balanced = get_balanced_memory(model, max_memory=budget, no_split_module_classes=no_split, dtype=dtype)
    return dict(infer_auto_device_map(model, max_memory=balanced, no_split_module_classes=no_split, dtype=dtype))


_LAYER = re.compile(r"(?:^|\.)(?:layers|h)\.(\d+)$")


def layer_devices(device_map: dict[str, int | str]) -> dict[int, int | str]:
    """Decoder layer index → its device, from a module-name device map (`model.layers.7` → 1)."""
    found = {int(m.group(1)): dev for name, dev in device_map.items() if (m := _LAYER.search(name))}
    return dict(sorted(found.items()))


def describe_layers(plan: MemoryPlan) -> str:
    """`layers 0–15 on cuda:0, 16–31 on cuda:1` for a spread plan."""
    try:
        layers = layer_devices(split(plan))
    except Exception as e:  # the split only describes; a model accelerate cannot map still loads
        return f"(layer placement unknown: {e})"
    runs: list[tuple[int, int, int | str]] = []
    for layer, dev in layers.items():
        if runs and runs[-1][2] == dev and runs[-1][1] == layer - 1:
            runs[-1] = (runs[-1][0], layer, dev)
        else:
            runs.append((layer, layer, dev))
    name = lambda d: f"cuda:{d}" if isinstance(d, int) else str(d)  # noqa: E731
    return ", ".join(f"layers {a}–{b} on {name(d)}" if a != b else f"layer {a} on {name(d)}" for a, b, d in runs)
