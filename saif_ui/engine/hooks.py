"""Forward hooks that exist only inside context managers: residual capture (with early stop) and steering."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from saif_ui.engine.errors import SaifError
from saif_ui.engine.model import decoder_layers
from saif_ui.engine.steering import Intervention


class StopForward(Exception):
    """Raised by a capture hook after the deepest requested layer, so later layers and the LM head never run."""


def _hidden(output: Any) -> torch.Tensor:
    # transformers 5 decoder layers return a tensor; older versions (and some models) return a tuple.
    return output[0] if isinstance(output, tuple) else output


def _replace_hidden(output: Any, hidden: torch.Tensor) -> Any:
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


def _cached_length(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    """How many positions the KV cache handed to a decoder block already holds; None when no cache was handed.

    Llama-style blocks get the cache by keyword (`past_key_values`); GPT-2's by position (its second argument).
    Any transformers `Cache` counts (sliding-window layers report every position seen, not only those kept).
    """
    for value in (*kwargs.values(), *args[1:]):
        if value is not None and callable(getattr(value, "get_seq_length", None)):
            return int(value.get_seq_length())
    return None


_TAG = "_saif_ui_hook"


def _tagged(fn: Any) -> Any:
    """Mark a hook as ours, so `hook_count` can tell it from hooks transformers installs itself."""
    setattr(fn, _TAG, True)
    return fn


@contextmanager
def _handles() -> Iterator[list[RemovableHandle]]:
    """Collect hook handles and always remove them, whatever happens inside."""
    handles: list[RemovableHandle] = []
    try:
        yield handles
    finally:
        for h in handles:
            h.remove()


@contextmanager
def capture(model: nn.Module, layers: Sequence[int], stop: bool = True) -> Iterator[dict[int, torch.Tensor]]:
    """Record the output of each decoder block in `layers` (-1 = the embeddings, the input of block 0).

    With `stop`, the hook on the deepest layer raises `StopForward` once it has recorded, which the caller catches:
    a forward that only needs layer 15 of 30 then costs about half as much.
    """
    blocks = decoder_layers(model)
    wanted = sorted(set(layers))
    if not wanted:
        raise SaifError("capture needs at least one layer")
    if wanted[0] < -1 or wanted[-1] >= len(blocks):
        raise SaifError(f"layers must be in -1..{len(blocks) - 1}, got {wanted}")
    deepest = wanted[-1]
    store: dict[int, torch.Tensor] = {}

    def make_hook(layer: int) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            store[layer] = _hidden(output).detach()
            if stop and layer == deepest:
                raise StopForward

        return _tagged(hook)

    @_tagged
    def embed_hook(module: nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        hidden = args[0] if args else kwargs["hidden_states"]
        store[-1] = hidden.detach()
        if stop and deepest == -1:
            raise StopForward

    with _handles() as handles:
        for layer in wanted:
            if layer == -1:
                handles.append(blocks[0].register_forward_pre_hook(embed_hook, with_kwargs=True))
            else:
                handles.append(blocks[layer].register_forward_hook(make_hook(layer)))
        yield store


@dataclass
class _StepState:
    """Per-call state shared by one `steer` context's hooks: the absolute position of the current forward's first
    token. It lives in the closure of this call's hooks only, so concurrent calls cannot see each other's state."""

    prompt_len: int
    starts: torch.Tensor | None = None
    """Each row's first real position (its left padding), or None: every row starts at 0."""
    offset: int = 0
    vectors: dict[int, list[Intervention]] = field(default_factory=dict)


@contextmanager
def steer(
    model: nn.Module, steerings: Sequence[Intervention], prompt_len: int, starts: torch.Tensor | None = None
) -> Iterator[None]:
    """Add each steering's delta (`Steering`, `Clamp`) to its block's output for every forward inside the context.
    `starts` holds each row's first real position in a left-padded batch (its attention sink), None for none.

    Works identically with and without the KV cache: the hook on block 0 reads how many positions are already cached
    before this forward (0 without a cache, where the whole sequence is recomputed), so each hook knows the absolute
    position of every token it sees and applies the same vector to it either way.
    """
    blocks = decoder_layers(model)
    state = _StepState(prompt_len=prompt_len, starts=starts)
    for s in steerings:
        if not 0 <= s.layer < len(blocks):
            raise SaifError(f"steering layer {s.layer} is out of range 0..{len(blocks) - 1}")
        state.vectors.setdefault(s.layer, []).append(s)

    @_tagged
    def offset_hook(module: nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        cached = _cached_length(args, kwargs)
        state.offset = cached or 0
        if cached is None and _hidden(args[0] if args else kwargs["hidden_states"]).shape[1] < state.prompt_len:
            # Without a cache every forward reads the whole sequence (prompt included); a shorter one is a decoding
            # step whose cache this hook cannot see, so the absolute positions (and the steering) would be wrong.
            raise SaifError(
                f"{type(model).__name__} runs a decoding step without handing its KV cache to the decoder blocks, so "
                "saif_ui cannot tell the positions it steers; generate with use_cache=False for this model"
            )

    def make_hook(items: list[Intervention]) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            hidden = _hidden(output)
            positions = torch.arange(hidden.shape[1], device=hidden.device) + state.offset
            # every delta is computed from the block's own output, then they are summed
            read = hidden.float()
            first = state.starts.to(hidden.device)[:, None] if state.starts is not None else 0
            sink = positions[None, :] == first  # [b or 1, T]
            delta = sum((s.delta(read, positions, state.prompt_len, sink) for s in items), torch.zeros(()))
            return _replace_hidden(output, hidden + delta.to(hidden.dtype))

        return _tagged(hook)

    with _handles() as handles:
        handles.append(blocks[0].register_forward_pre_hook(offset_hook, with_kwargs=True))
        for layer, items in state.vectors.items():
            handles.append(blocks[layer].register_forward_hook(make_hook(items)))
        yield


@contextmanager
def splice(
    model: nn.Module, layer: int, transform: Callable[[torch.Tensor], torch.Tensor], skip_first: bool = True
) -> Iterator[None]:
    """Replace the output of block `layer` by `transform(output)` (e.g. an SAE's reconstruction, or zeros).

    With `skip_first`, position 0 keeps its original value: SAEs are trained without it (its norm is ~100x the
    rest), so splicing their reconstruction there would measure a token they never saw.
    """
    blocks = decoder_layers(model)
    if not 0 <= layer < len(blocks):
        raise SaifError(f"splice layer {layer} is out of range 0..{len(blocks) - 1}")

    @_tagged
    def hook(module: nn.Module, args: Any, output: Any) -> Any:
        hidden = _hidden(output)
        new = transform(hidden).to(hidden.dtype)
        if skip_first:
            new = torch.cat([hidden[:, :1], new[:, 1:]], dim=1)
        return _replace_hidden(output, new)

    with _handles() as handles:
        handles.append(blocks[layer].register_forward_hook(hook))
        yield


def hook_count(model: nn.Module) -> int:
    """Number of saif_ui's forward (pre-)hooks on the decoder blocks; tests use it to prove hooks never outlive their
    call. Hooks that transformers installs itself (e.g. for output_hidden_states) are not counted."""
    return sum(
        getattr(fn, _TAG, False)
        for b in decoder_layers(model)
        for fn in [*b._forward_hooks.values(), *b._forward_pre_hooks.values()]
    )
