"""Replaying the blocks above a layer: what makes training a steering vector cheap.

A vector added at the output of block L changes nothing below it, so training one needs the residual at L once
(`capture_above` records it, with the arguments every later block was called with) and then only the blocks above
L, forward and backward, for every step: `Above.logits(resid + delta)`. The arguments (attention mask, rotary
position embeddings, …) are those the model itself computed for this batch, recorded by forward pre-hooks, so the
replay is the model's own computation whatever its family; `Above.check` proves it against a full forward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from saif_ui.engine.errors import SaifError
from saif_ui.engine.hooks import _handles, _hidden, _tagged
from saif_ui.engine.model import decoder_layers, final_norm


@dataclass
class Above:
    """The blocks above `layer` for one batch, with the residual at `layer` and each block's recorded arguments."""

    model: nn.Module
    layer: int
    resid: torch.Tensor
    """[B, T, d] output of block `layer` (detached): what a steering vector is added to."""
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
    """For each block above `layer`, the positional arguments after the hidden states and the keyword arguments."""
    lock: contextlib.AbstractContextManager[object] = field(default_factory=contextlib.nullcontext)
    """Held while the blocks run: calling a block runs the forward hooks on it, so a replay must not overlap a call
    that has attached its own (another visitor's steering); the engine passes its model lock."""

    def hidden(self, resid: torch.Tensor) -> torch.Tensor:
        """The final-normed last hidden state when block `layer` outputs `resid` [B, T, d]."""
        blocks = decoder_layers(self.model)
        h = resid
        with self.lock:
            for block, (args, kwargs) in zip(blocks[self.layer + 1 :], self.calls, strict=True):
                h = _hidden(block(h, *args, **kwargs))
        return final_norm(self.model)(h)

    def logits(self, resid: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Next-token logits (fp32) when block `layer` outputs `resid`; with `rows` (a [B, T] bool mask), only at
        those positions ([N, vocab]), so the output head runs on the positions a loss reads and no others."""
        h = self.hidden(resid)
        if rows is not None:
            h = h[rows]
        out = self.model.get_output_embeddings()(h).float()  # type: ignore[operator]
        cap = getattr(getattr(self.model, "config", None), "final_logit_softcapping", None)
        return torch.tanh(out / cap) * cap if cap else out

    def check(self, ids: torch.Tensor, mask: torch.Tensor, atol: float = 1e-3) -> float:
        """The largest difference between the replayed logits and a full forward of the same batch (at the real
        positions); raises when it exceeds `atol` × the logits' scale: a model whose blocks take state the hooks
        cannot see would train a vector against the wrong function."""
        with torch.no_grad():
            full = self.model(input_ids=ids, attention_mask=mask.long(), use_cache=False).logits.float()
            mine = self.logits(self.resid)
        real = mask.bool()
        gap = float((full[real] - mine[real]).abs().max())
        scale = float(full[real].abs().max().clamp(min=1.0))
        if gap > atol * scale:
            raise SaifError(f"replaying the blocks above layer {self.layer} differs from the model by {gap:.3g}")
        return gap


@contextlib.contextmanager
def _recording(model: nn.Module, layer: int) -> Iterator[tuple[dict[str, torch.Tensor], list[Any]]]:
    blocks = decoder_layers(model)
    out: dict[str, torch.Tensor] = {}
    calls: list[Any] = [None] * (len(blocks) - layer - 1)

    @_tagged
    def grab(module: nn.Module, args: Any, output: Any) -> None:
        out["resid"] = _hidden(output).detach()

    def record(i: int) -> Any:
        def hook(module: nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
            rest = {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
            calls[i] = (tuple(args[1:]), rest)

        return _tagged(hook)

    with _handles() as handles:
        handles.append(blocks[layer].register_forward_hook(grab))
        for i, block in enumerate(blocks[layer + 1 :]):
            handles.append(block.register_forward_pre_hook(record(i), with_kwargs=True))
        yield out, calls


def capture_above(
    model: nn.Module,
    layer: int,
    ids: torch.Tensor,
    mask: torch.Tensor,
    lock: contextlib.AbstractContextManager[object] | None = None,
) -> Above:
    """Run the batch once (no gradients, no KV cache) and keep what `Above` needs to replay blocks above `layer`.

    The sequences must not carry a KV cache (`use_cache=False`): a cache would be state outside the arguments."""
    blocks = decoder_layers(model)
    if not 0 <= layer < len(blocks):
        raise SaifError(f"layer {layer} is out of range 0..{len(blocks) - 1}")
    with torch.no_grad(), _recording(model, layer) as (out, calls):
        model(input_ids=ids, attention_mask=mask.long(), use_cache=False)
    if "resid" not in out or any(c is None for c in calls):
        raise SaifError(f"the model did not call every block above layer {layer}; it cannot be replayed")
    for _, kwargs in calls:
        if kwargs.get("past_key_values") is not None:
            raise SaifError("the model passed a KV cache to its blocks although use_cache=False")
    above = Above(model=model, layer=layer, resid=out["resid"], calls=calls)
    if lock is not None:
        above.lock = lock
    return above
