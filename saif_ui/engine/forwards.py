"""The engine's forwards that generate nothing: prompts encoded into residuals and SAE latents (cached), hidden
states, logits, the blocks above a layer for replay, the LM loss and a gradient at a layer."""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import torch
from transformers import PreTrainedModel

from saif_ui.engine import hooks
from saif_ui.engine.cache import ByteLRU, tensor_bytes
from saif_ui.engine.errors import SaifError
from saif_ui.engine.model import LoadedModel
from saif_ui.engine.replay import Above, capture_above
from saif_ui.engine.results import Encoding, pad_stack
from saif_ui.engine.sae import LoadedSAE
from saif_ui.engine.steering import Intervention


class Forwards(ABC):
    """The model calls of `Engine` that read the model without generating, each under the engine's lock.

    A base of `Engine`, which owns the attributes declared here and says which SAEs are attached and how a prompt
    tokenises; kept apart from generation so that what reads activations is in one place.
    """

    loaded: LoadedModel
    model: PreTrainedModel
    saes: dict[str, LoadedSAE]
    cache: ByteLRU[torch.Tensor]
    """Residuals and latents by (model, kind, SAE source, layer, prompt): a repeated prompt skips the model."""
    forward_calls: int
    _lock: threading.RLock

    @abstractmethod
    def sae(self, name: str) -> LoadedSAE:
        """The attached SAE `name`."""

    @abstractmethod
    def tokens(self, text: str) -> tuple[list[int], list[str], list[bool]]:
        """Token ids, token strings and special-token mask of a rendered prompt."""

    @property
    @abstractmethod
    def n_layers(self) -> int: ...

    @property
    @abstractmethod
    def d_model(self) -> int: ...

    def _key(self, kind: str, what: str, layer: int, prompt: str) -> tuple[str, str, str, int, str]:
        return (self.loaded.model_id, kind, what, layer, prompt)

    def encode(
        self,
        prompts: Sequence[str],
        layers: Sequence[int] = (),
        saes: Sequence[str] | None = None,
        batch_size: int = 16,
    ) -> list[Encoding]:
        """Residuals and SAE latents of rendered prompts, one batched padded forward per `batch_size` prompts that
        stops at the deepest layer needed (no later blocks, no LM head).

        Args:
            prompts: rendered texts (see `render`); tokenised without adding special tokens.
            layers: decoder blocks whose outputs to return as residuals.
            saes: names of attached SAEs whose latents to return; None means all attached SAEs.
            batch_size: prompts per forward.

        Results are cached per (model, SAE or layer, exact prompt): a repeated prompt returns the same tensors
        without running the model.
        """
        sae_list = [self.sae(n) for n in (list(self.saes) if saes is None else saes)]
        layer_list = sorted(set(layers))
        for layer in layer_list:
            if not -1 <= layer < self.n_layers:
                raise SaifError(f"layer {layer} is out of range -1..{self.n_layers - 1}")
        out: list[Encoding] = []
        for text in prompts:
            ids, toks, special = self.tokens(text)
            if not ids:
                raise SaifError("cannot encode an empty prompt")
            out.append(
                Encoding(
                    prompt=text,
                    token_ids=torch.tensor(ids, dtype=torch.long),
                    tokens=toks,
                    special_mask=torch.tensor(special, dtype=torch.bool),
                )
            )
        missing = [enc for enc in out if not self._fill_from_cache(enc, layer_list, sae_list)]
        # Batches of similar lengths pad less: discovery mixes one-sentence statements with paragraphs, and sorting
        # its 96 prompts cuts the tokens a forward runs by about a sixth. Each result lands in its own Encoding, so
        # the order the caller sees is unchanged.
        missing.sort(key=lambda enc: enc.n_tokens)
        for start in range(0, len(missing), batch_size):
            self._run_encode(missing[start : start + batch_size], layer_list, sae_list)
        return out

    def _fill_from_cache(self, enc: Encoding, layers: list[int], saes: list[LoadedSAE]) -> bool:
        """Fill `enc` from the cache; True only if everything requested was there."""
        for layer in layers:
            hit = self.cache.get(self._key("resid", "", layer, enc.prompt))
            if hit is None:
                return False
            enc.residuals[layer] = hit
        for sae in saes:
            hit = self.cache.get(self._key("sae", sae.source, sae.layer, enc.prompt))
            if hit is None:
                return False
            enc.latents[sae.name] = hit
        return True

    def hidden_states(
        self, token_ids: Sequence[torch.Tensor], layers: Sequence[int], steering: Sequence[Intervention] = ()
    ) -> dict[int, torch.Tensor]:
        """Outputs of the given decoder blocks for a batch of token-id sequences, right-padded into one forward
        that stops after the deepest block. Returns layer -> [B, T_max, d_model] on the model's device (padded
        positions hold garbage: mask them with the sequences' lengths). Not cached: `encode` caches, harvesting
        for SAE training does not need to. `steering` is added as in `generate`, the whole sequence counting as the
        prompt (so `all`-position steering is exact; right padding leaves real positions where they are)."""
        ids, mask = pad_stack(list(token_ids))
        device = self.loaded.device
        with (
            self._lock,
            torch.no_grad(),
            hooks.steer(self.model, steering, ids.shape[1]),
            hooks.capture(self.model, layers, stop=True) as store,
        ):
            self.forward_calls += 1
            with contextlib.suppress(hooks.StopForward):
                self.model(input_ids=ids.to(device), attention_mask=mask.to(device).long(), use_cache=False)
        return store

    def logits(self, token_ids: Sequence[torch.Tensor]) -> torch.Tensor:
        """Next-token logits [B, T_max, vocab] (fp32, on the model's device) of right-padded sequences, one forward
        (positions past a sequence's end hold garbage)."""
        ids, mask = pad_stack(list(token_ids))
        device = self.loaded.device
        with self._lock, torch.no_grad():
            self.forward_calls += 1
            out = self.model(input_ids=ids.to(device), attention_mask=mask.to(device).long(), use_cache=False)
        return out.logits.float()

    def above(self, layer: int, token_ids: Sequence[torch.Tensor]) -> Above:
        """The blocks above `layer` for right-padded sequences, ready to replay (`replay.Above`): recorded by one
        forward under the model lock, and each replay holds it too (another call's hooks must not run in it)."""
        ids, mask = pad_stack(list(token_ids))
        device = self.loaded.device
        with self._lock:
            self.forward_calls += 1
            return capture_above(self.model, layer, ids.to(device), mask.to(device), lock=self._lock)

    def lm_loss(
        self,
        token_ids: Sequence[torch.Tensor],
        splice_layer: int | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Next-token cross-entropy of each sequence, averaged over its predicted positions 1..T-1 (position 0 is
        never a target). With `splice_layer` and `transform`, block `splice_layer`'s output is replaced by
        `transform(output)` except at position 0 (see `hooks.splice`) — how SAE quality is measured as ΔCE."""
        ids, mask = pad_stack(list(token_ids))
        device = self.loaded.device
        ctx = (
            hooks.splice(self.model, splice_layer, transform)
            if splice_layer is not None and transform
            else contextlib.nullcontext()
        )
        with self._lock, torch.no_grad(), ctx:
            logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device).long(), use_cache=False).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        nll = -logp.gather(-1, ids[:, 1:, None].to(device))[..., 0].cpu()
        valid = mask[:, 1:]
        return (nll * valid).sum(1) / valid.sum(1).clamp(min=1)

    def target_gradient(self, token_ids: torch.Tensor, targets: torch.Tensor, layer: int) -> torch.Tensor:
        """Gradient of the summed next-token NLL of the `targets` positions of one sequence with respect to the
        output of block `layer` at every position ([T, d_model], float32; row 0 is zero: position 0 is never
        steered). `targets` is a [T] bool mask of the tokens whose log-probability counts (e.g. an answer after its
        prompt). Only this gradient is computed (torch.autograd.grad), never the weights' gradients."""
        ids = token_ids.reshape(1, -1).to(self.loaded.device)
        if targets.shape != (ids.shape[1],) or not bool(targets[1:].any()):
            raise SaifError("targets must be a [T] mask with at least one position after position 0")
        delta = torch.zeros(1, ids.shape[1], self.d_model, device=ids.device, dtype=self.loaded.dtype)
        delta.requires_grad_(True)
        with self._lock, torch.enable_grad(), hooks.splice(self.model, layer, lambda h: h + delta):
            self.forward_calls += 1
            logits = self.model(input_ids=ids, use_cache=False).logits
            logp = torch.log_softmax(logits[0, :-1].float(), dim=-1)
            nll = -logp.gather(-1, ids[0, 1:, None])[:, 0]
            loss = nll[targets[1:].to(ids.device)].sum()
            (grad,) = torch.autograd.grad(loss, delta)
        out = grad[0].float().cpu()
        out[0] = 0.0
        return out

    def _run_encode(self, batch: list[Encoding], layers: list[int], saes: list[LoadedSAE]) -> None:
        needed = sorted(set(layers) | {s.layer for s in saes})
        if not needed:
            return
        store = self.hidden_states([e.token_ids for e in batch], needed)
        for i, enc in enumerate(batch):
            n = enc.n_tokens
            for layer in layers:
                resid = store[layer][i, :n].float().cpu()
                enc.residuals[layer] = resid
                self.cache.put(self._key("resid", "", layer, enc.prompt), resid, tensor_bytes(resid))
            for sae in saes:
                with torch.no_grad():
                    lat = sae.encode(store[sae.layer][i, :n]).float().cpu()
                enc.latents[sae.name] = lat
                self.cache.put(self._key("sae", sae.source, sae.layer, enc.prompt), lat, tensor_bytes(lat))
