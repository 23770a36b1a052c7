"""Where latents fire on a prompt: activations of chosen latents on every token of a positive and its negative."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.saif.inputs.prompts import Pair, Prompt
from saif_ui.saif.interpret.lens import decode_tokens


@dataclass(frozen=True)
class Heatmap:
    """Activations [T, k] of chosen latents on every token of one prompt (position 0 included, for display)."""

    tokens: list[str]
    special: list[bool]
    latents: list[int]
    values: list[list[float]]
    instruction_tokens: tuple[int, int] | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def heatmap(engine: Engine, sae_name: str, prompt: Prompt, latents: Sequence[int]) -> Heatmap:
    """Activations of `latents` of SAE `sae_name` on every token of a rendered prompt."""
    sae = engine.sae(sae_name)
    bad = [i for i in latents if not 0 <= i < sae.d_sae]
    if bad:
        raise SaifError(f"latents {bad} are out of range for {sae_name} (0..{sae.d_sae - 1})")
    [enc] = engine.encode([prompt.text], saes=[sae_name])
    values = enc.latents[sae_name][:, list(latents)]
    span = prompt.instruction_tokens
    return Heatmap(
        tokens=decode_tokens(engine, enc.token_ids.tolist()),
        special=enc.special_mask.tolist(),
        latents=list(latents),
        values=values.tolist(),
        instruction_tokens=(span.start, span.end) if span else None,
    )


def pair_heatmaps(engine: Engine, sae_name: str, pair: Pair, latents: Sequence[int]) -> dict[str, Heatmap]:
    """Heatmaps of a positive and its negative, for showing where the instruction switches the latents on."""
    return {
        "positive": heatmap(engine, sae_name, pair.positive, latents),
        "negative": heatmap(engine, sae_name, pair.negative, latents),
    }
