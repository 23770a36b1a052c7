"""The backend's discovery part: SAIF Stage 1 for a visitor's prompt choice (rows labelled with the SAE's context
labels, every latent's statistics kept server-side), and one instruction at two SAEs side by side."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.watch import Watch
from saif_ui.saif.discovery.config import DEFAULT_POSITIONS, DEFAULT_SCORE, DiscoveryConfig
from saif_ui.saif.discovery.discover import DiscoveryResult, discover
from saif_ui.saif.steering.layers_compare import LayerComparison, compare_layers, layer_spec
from saif_ui.service.context import Context, as_placement
from saif_ui.service.controls import PromptChoice
from saif_ui.service.streaming import Partial, cached, finals, whole


class Discovery:
    def __init__(self, context: Context, labels: Callable[[str], dict[int, str]]) -> None:
        self.context = context
        self.labels = labels
        """Latent -> its context label, of an attached SAE (`Saes.latent_labels`)."""

    def discover(
        self, choice: PromptChoice, sae: str, *, positions: str, score: str, top_k: int, n_contents: int
    ) -> DiscoveryResult:
        """SAIF Stage 1 (disk-cached by the library). The session gets the rows; the statistics of every latent are
        kept in the context (a bounded LRU) for steering with latents the rows do not list."""
        instr = self.context.instruction(choice)
        cfg = DiscoveryConfig(  # validates positions and score, naming the valid ones
            placement=as_placement(choice.placement),
            positions=positions,  # type: ignore[arg-type]
            score=score,  # type: ignore[arg-type]
            top_k=top_k,
            n_contents=n_contents,
            system_prompt=choice.system_prompt,
        )
        result = discover(self.context.engine, instr, sae, cfg)
        labels = self.labels(sae)
        if labels:
            result = replace(
                result,
                latents=[replace(r, label=labels.get(r.id, "")) for r in result.latents],
                flagged=[replace(r, label=labels.get(r.id, "")) for r in result.flagged],
            )
        self.context.remember(result)
        return replace(result, stats=None)

    def compare_layers_stream(
        self,
        choice: PromptChoice,
        saes: tuple[str, str],
        *,
        top_k: int,
        n_contents: int,
        decoding: Decoding,
        stop: threading.Event | None = None,
    ) -> Iterator[Partial | LayerComparison]:
        """The same instruction at two SAEs side by side (`saif.steering.layers_compare`): each one's discovery (its
        top latents with their labels) and the content steered by each one's top-5 latents at α = 1, beside the
        original and prompted answers; streamed as the answers are generated (the discoveries first): the answers so
        far (`Partial`, under `original`, each SAE's name and `prompted`), then the comparison; `stop` ends them at the
        next token (the stopped comparison is returned, never cached)."""
        settings, run, columns = self._layers_job(choice, saes, top_k, n_contents, decoding)
        updates = cached(self.context.results, "compare_layers", settings, run, columns, stop)
        return finals(updates, lambda done: LayerComparison.from_dict(done.value))

    compare_layers = whole(compare_layers_stream)

    def _layers_job(
        self, choice: PromptChoice, saes: tuple[str, str], top_k: int, n_contents: int, decoding: Decoding
    ) -> tuple[dict[str, Any], Callable[[Watch | None], dict[str, Any]], tuple[str, ...]]:
        ctx = self.context
        if len(set(saes)) != 2:
            raise SaifError("pick two different SAEs to compare")
        for sae in saes:
            if not ctx.has_sae(sae):
                raise SaifError(f"no attached SAE named {sae!r}")
        instr = ctx.instruction(choice)
        found = [
            self.discover(
                choice, sae, positions=DEFAULT_POSITIONS, score=DEFAULT_SCORE, top_k=top_k, n_contents=n_contents
            )
            for sae in saes
        ]
        full = [ctx.full(r) or r for r in found]
        settings = {
            **ctx.settings(choice, instr, decoding),
            "saes": [ctx.sae_key(s) for s in saes],
            "specs": [layer_spec(r).to_dict() for r in full],
        }

        def run(watch: Watch | None) -> dict[str, Any]:
            return compare_layers(
                ctx.engine, instr, choice.content, full,
                placement=as_placement(choice.placement), decoding=decoding,
                system_prompt=choice.system_prompt, watch=watch,
            ).to_dict()  # fmt: skip

        return settings, run, ("original", *saes, "prompted")  # the order `compare_layers` generates them in
