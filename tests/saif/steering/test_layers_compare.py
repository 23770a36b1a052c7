"""One instruction at two SAEs: each side's spec is its discovery's top latents at α = 1, a comparison needs two
different SAEs, and a comparison reads back from its JSON."""

from __future__ import annotations

from dataclasses import replace

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.saif.steering.compare import Output
from saif_ui.saif.steering.layers_compare import LayerComparison, LayerSide, compare_layers, layer_spec
from tests.service.test_session import RESULT


def test_a_side_steers_with_its_top_latents_at_alpha_one() -> None:
    spec = layer_spec(RESULT)  # rows only: two ranked latents, each at its row's mean activation
    assert [(e.latent, e.mean_act) for e in spec.latents] == [(7, 5.0), (3, 5.0)] and spec.alpha == 1.0
    assert [e.latent for e in layer_spec(replace(RESULT, config=replace(RESULT.config, top_k=1))).latents] == [7]


def test_a_comparison_needs_two_different_saes() -> None:
    with pytest.raises(SaifError, match="pick two different SAEs"):
        compare_layers(None, "french", "Hi.", [RESULT, RESULT])  # type: ignore[arg-type]  # refused before the model
    with pytest.raises(SaifError, match="pick two different SAEs"):
        compare_layers(None, "french", "Hi.", [RESULT])  # type: ignore[arg-type]


def test_a_comparison_reads_back_from_its_json() -> None:
    out = Output("Bonjour", True, True, 9.0, 0.1, True)
    side = LayerSide(RESULT.sae, RESULT.layer, RESULT, layer_spec(RESULT), out)
    other = replace(side, sae="L08", layer=8, discovery=replace(RESULT, sae="L08", layer=8))
    result = LayerComparison("french", "french", [side, other], replace(out, text="Hi."), out)
    again = LayerComparison.from_dict(result.to_dict())
    assert again.to_dict() == result.to_dict() and again.sides[1].layer == 8 and again.sides[0].steered == out
