"""Tests for saif_ui.saif.steering.spec: the steering spec (JSON, validation, vectors) and its effect on generation."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from saif_ui.engine.decoding import Decoding
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import discover
from saif_ui.saif.steering.build import spec_for_latents
from saif_ui.saif.steering.spec import SpecError, SteeringSpec, SteerLatent, SteerVector, spec_from_discovery


@pytest.fixture(scope="module")
def french(engine, l24):
    return discover(engine, "french", l24, DiscoveryConfig(n_contents=6, top_k=10))


def test_spec_json_round_trip() -> None:
    spec = SteeringSpec(
        latents=(SteerLatent("L24", 24, 7, strength=0.5, mean_act=3.25), SteerLatent("L24", 24, 9, mean_act=1.0)),
        vectors=(SteerVector(8, (0.5, -1.0, 2.0), strength=2.0, label="diff"),),
        alpha=1.5,
        positions="generated",
        decay=0.1,
        decay_power=2.0,
        meta={"instruction": "french"},
    )
    again = SteeringSpec.from_json(spec.to_json())
    assert again == spec
    assert again.meta == {"instruction": "french"}
    assert json.loads(spec.to_json())["version"] == 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"alpha": 1, "colour": "red"}', "unknown steering spec fields: colour"),
        ('{"latents": [{"sae": "a", "layer": 1, "latent": 2}]}', "no mean_act"),
        ('{"latents": [{"sae": "a", "layer": 1, "latent": 2, "mean_act": 1, "x": 0}]}', "unknown fields"),
        ('{"positions": "middle"}', "positions must be one of"),
        ('{"version": 9}', "version 9"),
        ('{"alpha": 1e30}', "within ±1000"),
        ('{"alpha": -1e30}', "within ±1000"),
        ('{"alpha": "2"}', "'alpha' of the spec must be a number"),
        ('{"alpha": true}', "must be a number, not true"),
        ('{"alpha": NaN}', "NaN"),
        ('{"decay": -1}', "decay must be a finite number >= 0"),
        ('{"latents": {"a": 1}}', "'latents' of the spec must be a list"),
        ('{"latents": [7]}', "each item of 'latents' is a JSON object"),
        ('{"latents": [{"sae": "a", "layer": 1}]}', "needs latent"),
        ('{"latents": [{"sae": "a", "layer": 1, "latent": "7"}]}', "'latent' of an item of 'latents' must be an int"),
        ('{"latents": [{"sae": "a", "layer": 1, "latent": 7.5, "mean_act": 1}]}', "must be an integer"),
        ('{"latents": [{"sae": "a", "layer": 1, "latent": -3, "mean_act": 1}]}', "latent ids are >= 0"),
        ('{"latents": [{"sae": 5, "layer": 1, "latent": 2, "mean_act": 1}]}', "'sae' of an item"),
        ('{"latents": [{"sae": "a", "layer": 1, "latent": 2, "mean_act": 1, "strength": 1e9}]}', "within ±100"),
        (
            '{"latents": [{"sae": "a", "layer": 1, "latent": 2, "mean_act": 1},'
            ' {"sae": "a", "layer": 1, "latent": 2, "mean_act": 1}]}',
            "listed twice",
        ),
        ('{"vectors": [{"layer": 1, "vector": [1, "x"]}]}', "must hold numbers only"),
        ('{"vectors": [{"layer": 1}]}', "needs vector"),
        (
            '{"latents": ['
            + ",".join([f'{{"sae": "a", "layer": 1, "latent": {i}, "mean_act": 1}}' for i in range(257)])
            + "]}",
            "at most 256",
        ),
        ("[" * 5000 + "]" * 5000, "nests 33 levels deep"),
    ],
)
def test_bad_spec_json_is_a_clear_error(text: str, fragment: str) -> None:
    with pytest.raises(SpecError, match=fragment):
        SteeringSpec.from_json(text)


def test_steerings_sum_entries_scaled_by_mean_activation(engine, l24) -> None:
    sae = engine.sae(l24)
    spec = SteeringSpec(
        latents=(SteerLatent(l24, 24, 3, strength=2.0, mean_act=4.0), SteerLatent(l24, 24, 5, mean_act=1.0)),
        alpha=0.5,
    )
    want = 0.5 * (2.0 * 4.0 * sae.write_vector(3) + 1.0 * sae.write_vector(5))
    got = {s.layer: s.vector for s in spec.steerings(engine)}
    assert list(got) == [24]
    torch.testing.assert_close(got[24], want)
    [unit_steering] = SteeringSpec(latents=(SteerLatent(l24, 24, 3),), scale="unit", alpha=3.0).steerings(engine)
    unit = unit_steering.vector
    assert unit.norm().item() == pytest.approx(3.0, rel=1e-5)


def test_each_method_becomes_its_engine_primitive(engine, l24) -> None:
    from saif_ui.engine import Clamp, Steering

    sae = engine.sae(l24)
    entries = (SteerLatent(l24, 24, 3, strength=2.0, mean_act=4.0), SteerLatent(l24, 24, 5, mean_act=1.0))
    ortho = SteeringSpec(latents=entries, alpha=0.5, method="orthogonal").steerings(engine)
    assert [(s.method, s.value) for s in ortho] == [("orthogonal", 1.0), ("orthogonal", 0.5)]
    torch.testing.assert_close(ortho[0].vector, sae.write_vector(3))
    cap = SteeringSpec(latents=entries[:1], alpha=0.5, method="cap").steerings(engine)
    assert isinstance(cap[0], Steering) and cap[0].method == "cap"
    assert cap[0].value == pytest.approx(0.5 * 2.0 * 4.0 * float(sae.write_vector(3).norm()))
    [clamp] = SteeringSpec(latents=entries, alpha=0.5, method="clamp").steerings(engine)
    assert isinstance(clamp, Clamp) and clamp.layer == 24
    torch.testing.assert_close(clamp.targets, torch.tensor([0.5 * 2.0 * 4.0, 0.5 * 1.0 * 1.0]))
    torch.testing.assert_close(clamp.writes, sae.write_vectors()[[3, 5]])
    resid = torch.randn(2, 576, generator=torch.Generator().manual_seed(0)) * 5
    torch.testing.assert_close(clamp.encode(resid), sae.encode(resid)[..., [3, 5]])
    # at α = 0 an additive spec is nothing; the other methods are an ablation
    assert SteeringSpec(latents=entries, alpha=0.0).empty
    assert not SteeringSpec(latents=entries, alpha=0.0, method="clamp").empty


def test_the_method_round_trips_and_an_additive_spec_reads_as_before() -> None:
    spec = SteeringSpec(latents=(SteerLatent("L24", 24, 7, mean_act=1.0),), method="cap")
    assert SteeringSpec.from_json(spec.to_json()) == spec and spec.to_dict()["method"] == "cap"
    assert "method" not in SteeringSpec(latents=spec.latents).to_dict()
    with pytest.raises(SpecError, match="method must be one of add, orthogonal, cap, clamp"):
        SteeringSpec(method="scale")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="raw vector cannot be clamped"):
        SteeringSpec(vectors=(SteerVector(8, (1.0, 2.0)),), method="clamp")


def test_spec_naming_a_missing_sae_or_wrong_layer_fails_clearly(engine, l24) -> None:
    with pytest.raises(SpecError, match="not attached"):
        SteeringSpec(latents=(SteerLatent("nope", 24, 1, mean_act=1.0),)).steerings(engine)
    with pytest.raises(SpecError, match="reads layer 24"):
        SteeringSpec(latents=(SteerLatent(l24, 3, 1, mean_act=1.0),)).steerings(engine)


def test_spec_from_discovery_takes_top_k_with_mean_activations(engine, french) -> None:
    spec = spec_from_discovery(french, k=3, alpha=2.0)
    assert [e.latent for e in spec.latents] == french.ids[:3]
    assert [e.mean_act for e in spec.latents] == pytest.approx([r.mean_pos for r in french.latents[:3]])
    assert spec.meta["instruction"] == "french" and spec.alpha == 2.0
    picked = spec_for_latents(engine, french, french.sae, [french.ids[4], french.ids[1]], {french.ids[1]: 0.5})
    assert [e.latent for e in picked.latents] == [french.ids[4], french.ids[1]]
    assert [e.strength for e in picked.latents] == [1.0, 0.5] and picked.latents[0].mean_act == french.mean_act(
        french.ids[4]
    )
    with pytest.raises(SpecError, match="out of range"):
        spec_for_latents(engine, french, french.sae, [10**6])
    with pytest.raises(SpecError, match="no mean activation"):
        spec_for_latents(engine, None, french.sae, [3])  # mean_act scale without a discovery run


def test_alpha_zero_equals_plain_generation(engine, l24, french) -> None:
    prompt = engine.render("The cat sat on the mat in the sun.")
    spec = spec_from_discovery(french, k=5, alpha=0.0)
    assert spec.steerings(engine) == []
    plain = engine.generate([prompt], decoding=Decoding(max_new_tokens=12))[0].text
    # A zero vector through real hooks must also leave the output unchanged.
    zero = spec.with_alpha(1.0).with_strengths({i: 0.0 for i in french.ids[:5]})
    assert engine.generate([prompt], zero.steerings(engine), decoding=Decoding(max_new_tokens=12))[0].text == plain


def test_large_alpha_changes_the_output(engine, french) -> None:
    prompt = engine.render("The cat sat on the mat in the sun.")
    spec = spec_from_discovery(french, k=5)
    plain = engine.generate([prompt], decoding=Decoding(max_new_tokens=12))[0].text
    steered = engine.generate([prompt], spec.with_alpha(8.0).steerings(engine), decoding=Decoding(max_new_tokens=12))[
        0
    ].text
    assert steered != plain


def test_kv_cache_exact_with_decay(engine, french) -> None:
    prompt = engine.render("Rivers carry sediment to the sea.")
    spec = spec_from_discovery(french, k=5, alpha=1.0, positions="generated", decay=0.2, decay_power=1.5)
    st = spec.steerings(engine)
    with_cache = engine.generate([prompt], st, decoding=Decoding(max_new_tokens=10), use_cache=True, reuse=False)[
        0
    ].token_ids
    without = engine.generate([prompt], st, decoding=Decoding(max_new_tokens=10), use_cache=False, reuse=False)[
        0
    ].token_ids
    assert with_cache == without


def test_drop_one_and_strengths(french) -> None:
    spec = spec_from_discovery(french, k=3)
    first = spec.latents[0].latent
    assert first not in [e.latent for e in spec.without(first).latents]
    assert spec.with_strengths({first: 0.25}).latents[0].strength == 0.25


SPEC_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=12,
)
SPEC_LIKE = st.fixed_dictionaries(
    {},
    optional={
        k: SPEC_VALUES
        for k in ("alpha", "scale", "positions", "decay", "decay_power", "latents", "vectors", "meta", "version")
    },
)


@given(SPEC_LIKE | SPEC_VALUES)
@settings(max_examples=400, deadline=None)
def test_any_json_value_is_a_spec_or_a_spec_error(data) -> None:
    """Property: whatever a file holds, reading it never raises anything but SpecError."""
    try:
        spec = SteeringSpec.from_dict(data)
    except SpecError:
        return
    assert SteeringSpec.from_json(spec.to_json()) == spec
