"""Following a generation as it goes: each row's answer after every new token, and a stop that ends it at the next
token keeping what was written (`Engine.generate_each(..., watch=)`).

The engine reports through transformers' own hooks into `generate` (a `BaseStreamer` receives each step's tokens, a
`StoppingCriteria` reads the stop), in the generating thread; a caller that streams to a browser runs the generate in
a worker thread and reads what `on_texts` hands it (`service.streaming`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import StoppingCriteria
from transformers.generation.streamers import BaseStreamer


@dataclass
class Watch:
    """`on_texts(texts)` is called with every row's answer so far (the caller's rows, in order; rows served whole
    from the generation cache hold their whole answer from the first call) after each new token; setting `stop` ends
    the generation at the next token (a stopped answer is kept as written and never cached)."""

    on_texts: Callable[[list[str]], None]
    stop: threading.Event = field(default_factory=threading.Event)


class _Tokens(BaseStreamer):
    """Collects each row's new tokens (transformers first puts the prompt, then one token per row per step) and
    hands the decoded answers so far to `report`."""

    def __init__(self, rows: int, decode: Callable[[list[int]], str], report: Callable[[list[str]], None]) -> None:
        self.tokens: list[list[int]] = [[] for _ in range(rows)]
        self.decode, self.report = decode, report
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # the prompt itself
            self.prompt_seen = True
            return
        for row, token in zip(self.tokens, value.reshape(-1).tolist(), strict=True):
            row.append(int(token))
        self.report([self.decode(row) for row in self.tokens])

    def end(self) -> None:
        pass


class _StopWhen(StoppingCriteria):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def hooks_for(
    watch: Watch, rows: int, decode: Callable[[list[int]], str], report: Callable[[list[str]], None]
) -> dict[str, Any]:
    """The keyword arguments of `model.generate` that follow it (`streamer`, `stopping_criteria`)."""
    from transformers import StoppingCriteriaList

    return {
        "streamer": _Tokens(rows, decode, report),
        "stopping_criteria": StoppingCriteriaList([_StopWhen(watch.stop)]),
    }


def merge(known: Sequence[str | None], live: dict[int, int]) -> Callable[[list[str]], list[str]]:
    """Maps the texts of the rows being generated to the caller's rows: `known[i]` is row i's whole cached answer
    (None when it is generated), `live[i]` the index of its generated row."""

    def texts(generated: list[str]) -> list[str]:
        return [k if k is not None else generated[live[i]] for i, k in enumerate(known)]

    return texts
