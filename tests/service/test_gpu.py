"""ZeroGPU: the real `spaces` package leaves every handler as it is here, and a stand-in `spaces` in ZeroGPU mode
records which actions ask for the GPU, for how many seconds given the call's controls, and which are refused."""

from __future__ import annotations

import functools
import inspect
import pickle
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from saif_ui.engine.model import ModelLoadError, pick_device
from saif_ui.service.gpu import (
    ACTIONS,
    GPU_ACTION,
    MAX_SECONDS,
    Budget,
    Duration,
    NotOnZeroGpu,
    Refused,
    on_gpu,
    zero_gpu_spaces,
)


def crossed(value: Any) -> Any:
    """`value` after crossing ZeroGPU's process boundary: the real wrapper pickles a call's arguments to its worker
    and each result (each yield) back."""
    return pickle.loads(pickle.dumps(value))


class StandIn(types.ModuleType):
    """A `spaces` package in ZeroGPU mode that schedules nothing: `GPU` records each function it wraps with its
    `duration`, and the wrapper records each call with the seconds that duration gives for the call's arguments, then
    runs the function here on pickled copies of them and hands back pickled copies of what it returns or yields (a
    generator stays one, as with the real wrapper)."""

    def __init__(self) -> None:
        super().__init__("spaces")
        self.config = types.SimpleNamespace(Config=types.SimpleNamespace(zero_gpu=True))
        self.wrapped: list[tuple[str, Duration]] = []
        self.calls: list[tuple[str, int]] = []

    def GPU(self, task: Callable[..., Any], *, duration: Duration, size: str | None = None) -> Callable[..., Any]:
        self.wrapped.append((task.__name__, duration))

        if inspect.isgeneratorfunction(task):

            @functools.wraps(task)
            def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
                self.calls.append((duration.action, duration(*args, **kwargs)))
                args, kwargs = crossed((args, kwargs))
                for value in task(*args, **kwargs):
                    yield crossed(value)

            return stream

        @functools.wraps(task)
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((duration.action, duration(*args, **kwargs)))
            args, kwargs = crossed((args, kwargs))
            return crossed(task(*args, **kwargs))

        return call


@pytest.fixture
def zero_gpu(monkeypatch: pytest.MonkeyPatch) -> StandIn:
    """This process seen as a ZeroGPU Space: `import spaces` gives the stand-in."""
    stand_in = StandIn()
    monkeypatch.setitem(sys.modules, "spaces", stand_in)
    return stand_in


def sweep(alphas: str, n_contents: float, max_new_tokens: float, prompted_steered: bool, request: Any = None) -> str:
    return f"{alphas} × {n_contents}"


def steer(max_new_tokens: float, request: Any = None) -> Iterator[str]:
    yield "partial"
    yield "whole"


def test_the_real_package_leaves_every_handler_as_it_is_off_zero_gpu() -> None:
    spaces = pytest.importorskip("spaces")
    assert spaces.config.Config.zero_gpu is False  # SPACES_ZERO_GPU is unset here
    assert zero_gpu_spaces() is None
    # the package's own decorator returns the very function off ZeroGPU, for generator functions too
    assert spaces.GPU(sweep) is sweep and spaces.GPU(duration=30)(steer) is steer
    assert spaces.GPU(duration=lambda *a, **k: 5)(steer) is steer
    for action, fn in (("sweep", sweep), ("steer", steer), ("train", sweep), ("link", sweep)):
        assert on_gpu(action)(fn) is fn
    assert inspect.isgeneratorfunction(on_gpu("steer")(steer))
    assert not hasattr(sweep, GPU_ACTION) and not hasattr(steer, GPU_ACTION)


def test_an_unknown_action_is_refused_with_the_list_of_actions() -> None:
    with pytest.raises(ValueError, match=r"unknown GPU action .steering.; the actions are .*sweep"):
        on_gpu("steering")


def test_on_zero_gpu_a_handler_asks_for_its_action_sized_by_its_controls(zero_gpu: StandIn) -> None:
    assert zero_gpu_spaces() is zero_gpu
    wrapped = on_gpu("sweep")(sweep)
    assert wrapped is not sweep and getattr(wrapped, GPU_ACTION) == "sweep"
    assert inspect.signature(wrapped) == inspect.signature(sweep)  # what gradio reads
    [(name, duration)] = zero_gpu.wrapped
    assert name == "sweep" and duration.action == "sweep"
    # gradio calls a handler with positional values; the duration reads them by name
    assert wrapped("0, 1, 2", 8, 48, False) == "0, 1, 2 × 8"
    # 8 contents × (3 α + 2 baselines) = 40 rows, 5 batches of 48 tokens at 0.06 s, after a 15 s start
    assert zero_gpu.calls == [("sweep", 30)]
    wrapped("0, 1, 2", 16, 48, False)
    wrapped("0, 1, 2", 16, 48, True)  # prompted + steered doubles the steered rows
    wrapped(alphas="0 1 2 3 4 5 6 7 8", n_contents=40, max_new_tokens=256, prompted_steered=True)
    assert [s for _, s in zero_gpu.calls] == [30, 44, 62, MAX_SECONDS]


def test_a_streaming_handler_stays_a_generator_and_its_seconds_follow_its_tokens(zero_gpu: StandIn) -> None:
    wrapped = on_gpu("steer")(steer)
    assert inspect.isgeneratorfunction(wrapped)
    assert list(wrapped(32)) == ["partial", "whole"]
    assert list(wrapped(max_new_tokens=256)) == ["partial", "whole"]
    # four answers in one batch: 32 or 256 steps after a 20 s start
    assert zero_gpu.calls == [("steer", 22), ("steer", 36)]


def test_controls_that_cannot_be_read_count_as_the_pages_defaults(zero_gpu: StandIn) -> None:
    wrapped = on_gpu("sweep")(sweep)
    wrapped("", "many", None, False)
    wrapped(None, -3, "x", False)
    defaults = zero_gpu.calls[0][1]
    assert zero_gpu.calls == [("sweep", defaults), ("sweep", defaults)]
    [(_, duration)] = zero_gpu.wrapped
    assert duration("too", "many", "positional", "values", "for", "the", "signature") == defaults


def test_a_refused_action_says_why_and_never_asks_for_the_gpu(zero_gpu: StandIn) -> None:
    refused = on_gpu("train")(sweep)
    assert getattr(refused, GPU_ACTION) == "train" and inspect.signature(refused) == inspect.signature(sweep)
    with pytest.raises(NotOnZeroGpu, match=r"background thread.*python -m saif_ui train-sae"):
        refused("0", 1, 1, False)
    stream = on_gpu("load_sae")(steer)
    assert inspect.isgeneratorfunction(stream)
    with pytest.raises(NotOnZeroGpu, match="SAIF_SAES"):
        list(stream(8))
    assert zero_gpu.wrapped == [] and zero_gpu.calls == []


def test_a_page_load_asks_for_the_gpu_only_when_its_link_needs_the_model(zero_gpu: StandIn) -> None:
    def load_link(state: dict[str, Any], request: Any) -> str:
        return "loaded"

    wrapped = on_gpu("link")(load_link)
    bare, with_latents, with_chat = (
        types.SimpleNamespace(query_params=q) for q in ({}, {"latents": "3,7"}, {"chat": "[]"})
    )
    assert [wrapped({}, bare), wrapped({}, None), wrapped({}, with_latents), wrapped({}, request=with_chat)] == [
        "loaded"
    ] * 4
    assert [action for action, _ in zero_gpu.calls] == ["link", "link"]


def test_every_budget_asks_for_at_least_its_start_and_at_most_the_cap() -> None:
    largest = {
        "n_contents": 144,
        "max_new_tokens": 256,
        "alphas": ",".join(map(str, range(24))),
        "weights": "0 1 2 3 4",
    }
    largest |= {"latents": [str(i) for i in range(32)], "prompted_steered": True}
    budgets = {name: plan for name, plan in ACTIONS.items() if isinstance(plan, Budget)}
    assert set(ACTIONS) - set(budgets) == {"train", "distil", "steer_distilled", "load_sae"}
    assert all(isinstance(ACTIONS[name], Refused) for name in ("train", "distil", "steer_distilled", "load_sae"))
    for name, budget in budgets.items():
        least, most = budget.seconds({}), budget.seconds(largest)
        assert 15 <= least <= most <= MAX_SECONDS, name
    assert budgets["sweep"].seconds(largest) == budgets["joint_sweep"].seconds(largest) == MAX_SECONDS


def test_pick_device_is_cuda_on_zero_gpu_once_spaces_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert pick_device("auto") == torch.device("cpu")  # no GPU on this machine
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setitem(sys.modules, "spaces", StandIn())
    assert pick_device("auto") == pick_device("cuda") == torch.device("cuda")
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setitem(sys.modules, "spaces", None)  # not installed
    with pytest.raises(ModelLoadError, match="spaces"):
        pick_device("auto")
