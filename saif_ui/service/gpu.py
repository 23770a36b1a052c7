"""ZeroGPU: on a Hugging Face ZeroGPU Space each action that runs the model asks for a GPU (`spaces.GPU`) for a
duration sized to its work; locally, on CPU Spaces and on dedicated-GPU Spaces the decorator returns the function as
it is.

How ZeroGPU runs a decorated call (read from the `spaces` package, 0.51): the Space's process has no GPU; `import
spaces` patches torch so that `.to("cuda")` at startup registers the weights, which are packed to disk when gradio
launches. A call asks the ZeroGPU service for a GPU for `duration` seconds, then runs in a *forked worker process*
that moves the packed weights onto the GPU; its arguments and its result (each yield of a generator) cross the
process boundary pickled. So whatever the call changes in memory (the result and encode caches, a session's entry
in a registry, a Stop flag set meanwhile by another request) stays in the worker, which ZeroGPU may reuse for the
next call or not. What a call returns (the page's `gr.State` included) and writes to disk is kept.

Each action's duration is a `Budget`: seconds for the call's start (a cold worker copies the weights onto the GPU)
plus its work, estimated from the controls it is called with (contents, α values, new tokens), at most
`MAX_SECONDS`. Shorter requests wait less in ZeroGPU's queue and pass its quota check sooner; a call that runs past
its duration may be cut off. Actions ZeroGPU cannot serve (a background training, loading an SAE after startup)
are `Refused` with the reason, which the visitor is shown.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from saif_ui.engine.errors import SaifError

F = TypeVar("F", bound=Callable[..., Any])
Arguments = Mapping[str, Any]

MAX_SECONDS = 180
"""The most one call asks for. ZeroGPU refuses a request above a visitor's per-call cap outright ("illegal
duration") and one above their remaining daily quota (3.5 minutes for a free account, 2 unauthenticated, per the
ZeroGPU docs' usage tiers); a job whose estimate is longer should be asked for smaller."""
START_S = 15.0
"""A call's fixed part: scheduling, the worker's start and, when it is cold, copying the weights onto the GPU."""
SECONDS_PER_TOKEN = 0.06
"""One decoding step of a batch (up to `BATCH` rows) of a ~9B model in bf16 on a ZeroGPU slice, steering hooks
included: an estimate that errs long, not a measurement."""
BATCH = 8
"""Rows generated together (`saif.steering.compare.generate_rows`'s batch size)."""
ENCODE_S = 0.3
"""Encoding one prompt pair (positive and negative) for discovery, per content."""
TOKENS, CONTENTS, VALUES, LATENTS = 48.0, 8.0, 5.0, 5.0
"""What a control that cannot be read counts as: the pages' defaults (the handler itself rejects bad values)."""


class NotOnZeroGpu(SaifError):
    """An action this app cannot run on a ZeroGPU Space; the message says why and what to do instead."""


@dataclass(frozen=True)
class Budget:
    """Seconds of GPU an action asks for: `base`, plus `work(arguments)` for an action whose work grows with its
    controls (the call's arguments by name), at most `MAX_SECONDS`. `needed(arguments)`, when given, says whether a
    call needs the model at all (one that does not runs without asking for a GPU)."""

    base: float
    work: Callable[[Arguments], float] | None = None
    needed: Callable[[Arguments], bool] | None = None

    def seconds(self, arguments: Arguments) -> int:
        extra = self.work(arguments) if self.work is not None else 0.0
        return int(min(MAX_SECONDS, math.ceil(self.base + extra)))


@dataclass(frozen=True)
class Refused:
    """An action ZeroGPU cannot serve, and why, in words for the visitor."""

    reason: str


def generating(rows: float, tokens: float) -> float:
    """Seconds to generate `tokens` new tokens for `rows` answers, `BATCH` at a time."""
    return math.ceil(max(rows, 1) / BATCH) * tokens * SECONDS_PER_TOKEN


def number(arguments: Arguments, name: str, default: float) -> float:
    """A numeric control's value, or `default` when it is missing, not a number or not positive."""
    try:
        value = float(arguments[name])
    except (KeyError, TypeError, ValueError):
        return default
    return value if math.isfinite(value) and value > 0 else default


def count(arguments: Arguments, name: str, default: float) -> float:
    """How many values a control holds: a list's length, or the items of a text like "0, 1, 2.5"."""
    value = arguments.get(name)
    if isinstance(value, list | tuple):
        return float(len(value)) or default
    return float(len(str(value or "").replace(",", " ").split())) or default


def _tokens(a: Arguments) -> float:
    return number(a, "max_new_tokens", TOKENS)


def _contents(a: Arguments) -> float:
    return number(a, "n_contents", CONTENTS)


def _answers(rows: int) -> Callable[[Arguments], float]:
    """A panel that generates `rows` answers side by side."""
    return lambda a: generating(rows, _tokens(a))


def _sweep(a: Arguments) -> float:
    # each α steers every content (twice with "prompted + steered"), beside the original and prompted baselines
    per_alpha = 2 if a.get("prompted_steered") else 1
    return generating(_contents(a) * (count(a, "alphas", VALUES) * per_alpha + 2), _tokens(a))


def _ablation(a: Arguments) -> float:
    # drop-one and add-one: two variants per chosen latent and the whole selection, on every content
    return generating(_contents(a) * (2 * count(a, "latents", LATENTS) + 1), _tokens(a))


def _joint_sweep(a: Arguments) -> float:
    # every pair of weights but (0, 0) on every content, beside the two baselines
    return generating(_contents(a) * (count(a, "weights", VALUES) ** 2 + 1), _tokens(a))


def _link_needs_model(a: Arguments) -> bool:
    # a share link with latents reruns discovery, one with a chat answers it again; a bare page load does neither
    params = getattr(a.get("request"), "query_params", None) or {}
    return bool(params.get("latents") or params.get("chat"))


AFTER_STARTUP = (
    "On a ZeroGPU Space the model and its SAEs are placed once, at startup: attach SAEs with the SAIF_SAES "
    "variable and restart the Space."
)
IN_THE_BACKGROUND = (
    "{what} runs for minutes in a background thread, and ZeroGPU lends a GPU only to a request, for a few minutes "
    "at most: run it on your machine (python -m saif_ui {command}) or on a Space with a dedicated GPU."
)

ACTIONS: dict[str, Budget | Refused] = {
    "generate": Budget(START_S, _answers(1)),
    "answer": Budget(START_S, _answers(2)),  # without and with the instruction
    "steer": Budget(START_S + 5, _answers(4)),  # original, steered, prompted, prompted + steered
    "steer_joint": Budget(START_S + 5, _answers(3)),
    "chat": Budget(START_S + 5, _answers(3)),  # default, steered and prompted columns
    "demo": Budget(START_S + 10 + generating(3, TOKENS)),  # discovery is disk-cached; 3 answers of 48 tokens
    "discover": Budget(START_S, lambda a: ENCODE_S * _contents(a)),
    "compare_layers": Budget(START_S, lambda a: 2 * ENCODE_S * _contents(a) + generating(4, _tokens(a))),
    "heatmap": Budget(START_S + 5),
    "latent_card": Budget(START_S + 5),
    "umap_redraw": Budget(START_S),  # reads the cached map; the SAE's weights are hashed for its key
    "umap": Budget(120),  # UMAP fits on the CPU: about a minute, plus numba's first compile
    "cards": Budget(120),
    "quality": Budget(90),
    "sweep": Budget(START_S, _sweep),
    "ablation": Budget(START_S, _ablation),
    "special_grid": Budget(START_S, lambda a: generating(count(a, "alphas", VALUES) + 2, _tokens(a))),
    "joint_sweep": Budget(START_S, _joint_sweep),
    "link": Budget(START_S + ENCODE_S * 48 + generating(3, TOKENS), needed=_link_needs_model),
    "train": Refused(IN_THE_BACKGROUND.format(what="Training an SAE", command="train-sae")),
    "distil": Refused(IN_THE_BACKGROUND.format(what="A distillation", command="distil")),
    "steer_distilled": Refused(
        "Steering with a distilled vector needs a distillation run in this app, which ZeroGPU cannot serve: "
        + IN_THE_BACKGROUND.format(what="a distillation", command="distil")
    ),
    "load_sae": Refused(AFTER_STARTUP),
}
"""Every action that runs the model, by the name its handler is decorated with (`on_gpu(name)`)."""
GPU_ACTION = "gpu_action"
"""The attribute naming the action of a handler `on_gpu` wrapped (on a ZeroGPU Space only)."""


@dataclass(frozen=True)
class Duration:
    """The `duration` handed to `spaces.GPU`: called with the handler's own arguments (as `spaces` calls it), it
    binds them to the handler's signature and returns the action's seconds."""

    action: str
    budget: Budget
    signature: inspect.Signature

    def arguments(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(self.signature.bind_partial(*args, **kwargs).arguments)
        except TypeError:  # not the handler's arguments: the budget's defaults
            return {}

    def __call__(self, *args: Any, **kwargs: Any) -> int:
        return self.budget.seconds(self.arguments(*args, **kwargs))


def zero_gpu_spaces() -> Any | None:
    """The `spaces` package when this process runs on a ZeroGPU Space, else None: the package installed and its
    ZeroGPU mode on, read as the package reads it (`spaces.config.Config.zero_gpu`, from `SPACES_ZERO_GPU`). Off a
    ZeroGPU Space importing it changes nothing. Tests put a stand-in module in `sys.modules["spaces"]`."""
    try:
        import spaces
    except ImportError:
        return None
    return spaces if spaces.config.Config.zero_gpu else None


def on_gpu(action: str) -> Callable[[F], F]:
    """Decorate a handler that runs the model: on a ZeroGPU Space it asks for a GPU for the action's `Budget`
    (or refuses a `Refused` action); anywhere else the handler is returned unchanged.

    The handler keeps its signature and, a generator function, stays one (gradio streams it), on ZeroGPU too. Put
    it outermost, above the decorators that turn errors into the visitor's messages: those must run inside the GPU
    call, where the error happens.

    Example:
        >>> @on_gpu("steer")
        ... def steer(max_new_tokens: int) -> str: ...
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown GPU action {action!r}; the actions are {', '.join(sorted(ACTIONS))}")
    plan = ACTIONS[action]

    def decorate(fn: F) -> F:
        spaces = zero_gpu_spaces()
        if spaces is None:
            return fn
        if isinstance(plan, Refused):
            wrapped = _refusing(fn, plan.reason)
        else:
            duration = Duration(action, plan, inspect.signature(fn))
            wrapped = spaces.GPU(fn, duration=duration)
            if plan.needed is not None:
                wrapped = _when_needed(fn, wrapped, duration, plan.needed)
        setattr(wrapped, GPU_ACTION, action)
        return cast(F, wrapped)

    return decorate


def _refusing(fn: Callable[..., Any], reason: str) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def refuse_stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            raise NotOnZeroGpu(reason)
            yield  # a generator function, as gradio expects of a streaming handler

        return refuse_stream

    @functools.wraps(fn)
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NotOnZeroGpu(reason)

    return refuse


def _when_needed(
    fn: Callable[..., Any], on_gpu: Callable[..., Any], duration: Duration, needed: Callable[[Arguments], bool]
) -> Callable[..., Any]:
    """`on_gpu` for a call that needs the model, `fn` itself (here, no GPU asked for) for one that does not."""

    def pick(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[..., Any]:
        return on_gpu if needed(duration.arguments(*args, **kwargs)) else fn

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            yield from pick(args, kwargs)(*args, **kwargs)

        return stream

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return pick(args, kwargs)(*args, **kwargs)

    return call
