"""Drop-one and add-one evaluations of a selection on the real model (tiny decoding, a random SAE)."""

from __future__ import annotations

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.discover import pick_contents
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.steering.ablation import Ablation, ablate
from saif_ui.saif.steering.evaluate import EvalConfig
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent

SHORT = EvalConfig(n_contents=None, decoding=Decoding(max_new_tokens=4))


def test_drop_one_and_add_one_cover_every_latent(engine, rand_sae) -> None:
    spec = SteeringSpec(latents=tuple(SteerLatent(rand_sae, 2, i, mean_act=1.0) for i in (3, 7, 9)), alpha=2.0)
    contents = pick_contents(load_contents("validation"), 2)
    calls: list[tuple[int, int]] = []
    result = ablate(engine, "french", spec, contents, SHORT, progress=lambda d, t: calls.append((d, t)))
    assert [p.latents for p in result.drop_one] == [(7, 9), (3, 9), (3, 7)]
    assert [p.latents for p in result.add_one] == [(3,), (3, 7), (3, 7, 9)]
    assert result.add_one[-1].rate == result.full.rate and result.metric == "fluent_strict"
    for p in (*result.drop_one, *result.add_one, result.full, result.baseline):
        assert p.n == 2 and 0 <= p.low <= p.rate <= p.high <= 1
    assert calls[-1] == (6, 6)  # full, 3 drop-one, 2 add-one
    assert Ablation.from_dict(result.to_dict()) == result


def test_ablation_input_is_checked(engine, rand_sae) -> None:
    one = SteeringSpec(latents=(SteerLatent(rand_sae, 2, 3, mean_act=1.0),))
    contents = pick_contents(load_contents("validation"), 2)
    with pytest.raises(SaifError, match="at least 2 latents"):
        ablate(engine, "french", one, contents, SHORT)
    many = SteeringSpec(latents=tuple(SteerLatent(rand_sae, 2, i, mean_act=1.0) for i in range(20)))
    with pytest.raises(SaifError, match="at most 16"):
        ablate(engine, "french", many, contents, SHORT)
