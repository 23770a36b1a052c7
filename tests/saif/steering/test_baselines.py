"""The mean-difference steering baseline: built from the same pairs as discovery, no SAE needed."""

from __future__ import annotations

import pytest
import torch

from saif_ui.engine.decoding import Decoding
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import make_pairs, resolve_instruction
from saif_ui.saif.steering.baselines import mean_difference_spec
from saif_ui.saif.steering.spec import SteeringSpec

SMALL = DiscoveryConfig(n_contents=4)


def test_mean_difference_is_positive_minus_negative_last_token(engine) -> None:
    spec = mean_difference_spec(engine, "french", 15, SMALL)
    (vec,) = spec.vectors
    assert vec.layer == 15 and len(vec.vector) == engine.d_model and spec.meta["n_pairs"] == 4
    pairs = make_pairs(engine, resolve_instruction("french"), SMALL)
    pos = engine.hidden_states([torch.tensor(p.positive.token_ids) for p in pairs[:1]], [15])[15][0, -1]
    neg = engine.hidden_states([torch.tensor(pairs[0].negative.token_ids)], [15])[15][0, -1]
    got = torch.tensor(vec.vector)
    # One pair's difference points the same way as the mean difference over four pairs.
    assert torch.cosine_similarity(got, (pos - neg).float().cpu(), dim=0) > 0.5
    again = SteeringSpec.from_json(spec.to_json())
    assert again.vectors[0].vector == vec.vector


def test_mean_difference_steers_and_alpha_zero_does_not(engine) -> None:
    spec = mean_difference_spec(engine, "french", 15, SMALL)
    prompt = engine.render("The sun rises in the east.")
    plain = engine.generate([prompt], decoding=Decoding(max_new_tokens=10))[0].text
    assert spec.with_alpha(0.0).steerings(engine) == []
    assert (
        engine.generate([prompt], spec.with_alpha(4.0).steerings(engine), decoding=Decoding(max_new_tokens=10))[0].text
        != plain
    )


def _top_spec(engine, name: str) -> SteeringSpec:
    from saif_ui.saif.steering.spec import SteerLatent

    layer = engine.sae(name).layer
    return SteeringSpec(latents=tuple(SteerLatent(name, layer, i, mean_act=2.0 + i / 10) for i in (3, 5, 8)), alpha=1.5)


def test_random_latents_are_other_latents_at_the_same_norm(engine, rand_sae) -> None:
    from saif_ui.saif.steering.baselines import random_latents_spec

    spec = _top_spec(engine, rand_sae)
    control = random_latents_spec(spec, engine, seed=1)
    assert len(control.latents) == 3 and not {e.latent for e in control.latents} & {3, 5, 8}
    assert {e.sae for e in control.latents} == {spec.latents[0].sae} and control.scale == "unit"
    assert control.norm(engine) == pytest.approx(spec.norm(engine), rel=1e-5)
    assert random_latents_spec(spec, engine, seed=1) == control  # seeded
    assert random_latents_spec(spec, engine, seed=2).latents != control.latents


def test_random_direction_has_the_norm_at_each_layer(engine, rand_sae) -> None:
    from saif_ui.saif.steering.baselines import random_direction_spec

    spec = _top_spec(engine, rand_sae)
    control = random_direction_spec(spec, engine, seed=0)
    (vec,) = control.vectors
    assert vec.layer == spec.latents[0].layer
    assert control.norm(engine) == pytest.approx(spec.norm(engine), rel=1e-5)
    direction = torch.tensor(vec.vector)
    target = spec.layer_vectors(engine)[vec.layer]
    assert abs(float(torch.cosine_similarity(direction, target, dim=0))) < 0.3  # not the spec's own direction


def test_norm_matched_top1_adds_as_much_as_the_top_k(engine, rand_sae) -> None:
    from dataclasses import replace

    from saif_ui.saif.steering.baselines import norm_matched

    spec = _top_spec(engine, rand_sae)
    top1 = replace(spec, latents=spec.latents[:1])
    matched = norm_matched(top1, engine, spec.norm(engine))
    assert matched.norm(engine) == pytest.approx(spec.norm(engine), rel=1e-5)
    with pytest.raises(ValueError, match="adds nothing"):
        norm_matched(spec.with_alpha(0.0), engine, 1.0)
