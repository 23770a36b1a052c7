"""The mean-difference steering baseline: built from the same pairs as discovery, no SAE needed."""

from __future__ import annotations

import torch

from saif_ui.saif.discovery.discover import DiscoveryConfig, make_pairs, resolve_instruction
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
    plain = engine.generate([prompt], max_new_tokens=10)[0].text
    assert spec.with_alpha(0.0).steerings(engine) == []
    assert engine.generate([prompt], spec.with_alpha(4.0).steerings(engine), max_new_tokens=10)[0].text != plain
