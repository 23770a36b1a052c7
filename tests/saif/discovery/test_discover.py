"""Tests for saif_ui.saif.discovery.discover (the CLI commands: tests/cli/test_discover.py)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import torch

from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import discover, discover_many, pick_contents
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.inputs.contents import load_contents
from tests.conftest import shipped_sae_folders

SMALL = DiscoveryConfig(n_contents=4, top_k=8)


def test_pick_contents_alternates_kinds() -> None:
    picked = pick_contents(load_contents("discovery"), 6)
    assert [c.kind for c in picked] == ["statement", "paragraph"] * 3
    assert len(pick_contents(load_contents("discovery"), None)) == len(load_contents("discovery"))


def test_discovery_is_deterministic_and_well_formed(engine, rand_saes) -> None:
    a = discover(engine, "french", "rand24", SMALL, use_cache=False)
    b = discover(engine, "french", "rand24", SMALL, use_cache=False)
    assert a.ids == b.ids and [r.score for r in a.latents] == [r.score for r in b.latents]
    assert a.n_pairs == 4 and a.layer == 24 and 0 < len(a.latents) <= 8
    scores = [r.score for r in a.latents]
    # Descending; scores equal up to float noise (scoring.tie_key, ~1e-6 relative) rank as ties, by id.
    assert all(hi >= lo * (1 - 4e-6) for hi, lo in itertools.pairwise(scores)) and scores[-1] > 0
    rows = itertools.pairwise(zip(a.ids, scores, strict=True))
    assert all(i < j for (i, hi), (j, lo) in rows if hi < lo)  # out of order only as a tie, then by id
    assert not set(a.ids) & {r.id for r in a.flagged} and all(r.flags for r in a.flagged)
    data = json.loads(json.dumps(a.to_dict()))
    assert {"instruction", "layer", "placement", "latents", "flagged", "positions", "score"} <= data.keys()
    assert data["instruction"] == "french" and data["placement"] == "post"
    row = data["latents"][0]
    assert {"id", "score", "freq_pos", "freq_neg", "mean_pos", "mean_neg", "flags", "logit_tokens"} <= row.keys()
    assert len(row["logit_tokens"]) == SMALL.lens_tokens


def test_disk_cache_round_trip_and_keys(engine, rand_saes, tmp_path) -> None:
    first = discover(engine, "json", "rand24", SMALL)
    calls = engine.forward_calls
    second = discover(engine, "json", "rand24", SMALL)
    assert not first.cached and second.cached and engine.forward_calls == calls
    assert second.to_dict() | {"cached": 0, "seconds": 0} == first.to_dict() | {"cached": 0, "seconds": 0}
    assert (tmp_path / "cache" / "discovery" / f"{first.cache_key}.npz").is_file()
    assert not list((tmp_path / "cache" / "discovery").glob(".tmp-*"))  # atomic writes leave no temp files
    keys = {
        discover(engine, "json", "rand24", replace(SMALL, **change)).cache_key
        for change in ({}, {"placement": "pre"}, {"positions": "prompt"}, {"n_contents": 5}, {"system_prompt": False})
    }
    assert len(keys) == 5
    assert discover(engine, "french", "rand24", SMALL).cache_key != first.cache_key
    # The score is applied to cached statistics: another score needs no forward.
    calls = engine.forward_calls
    by_t = discover(engine, "json", "rand24", SMALL, score="t")
    assert by_t.cached and engine.forward_calls == calls and by_t.config.score == "t"
    # A corrupt cache file is recomputed, not trusted.
    (tmp_path / "cache" / "discovery" / f"{first.cache_key}.npz").write_bytes(b"not an npz")
    again = discover(engine, "json", "rand24", SMALL)
    assert not again.cached and again.ids == first.ids


def test_custom_instruction_texts(engine, rand_saes) -> None:
    custom = Instruction.custom(["Answer like a pirate.", "Talk like a pirate."])
    result = discover(engine, custom, "rand24", SMALL)
    assert result.instruction == custom.id and result.instruction_texts == list(custom.variants())
    assert result.latents and result.n_pairs == 4


def test_discover_many_matches_single_runs(engine, rand_saes) -> None:
    both = discover_many(engine, "french", rand_saes, SMALL, use_cache=False)
    assert set(both) == set(rand_saes) and both["rand8"].layer == 8
    for name in rand_saes:
        single = discover(engine, "french", name, SMALL, use_cache=False)
        assert single.ids == both[name].ids
        assert torch.allclose(single.stats.t, both[name].stats.t)


def test_different_instructions_give_different_top_latents(engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(engine.config, "cache_dir", tmp_path)
    sae = engine.add_sae(next(f for f in shipped_sae_folders() if Path(f).name == "L24_fast_topk64"))
    try:
        cfg = DiscoveryConfig(n_contents=8, top_k=10)
        french, json_ = discover(engine, "french", sae.name, cfg), discover(engine, "json", sae.name, cfg)
        spanish = discover(engine, "spanish", sae.name, cfg)
    finally:
        engine.remove_sae(sae.name)
    assert french.latents and json_.latents
    assert len(set(french.ids) & set(json_.ids)) < 5
    assert french.ids != spanish.ids
