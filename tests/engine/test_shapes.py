"""The model's and SAEs' sizes read from config files alone: the parameter formula against a meta-device count, SAE
sizes from cfg.json or a registry id, and a config that is not on this machine is never downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from saif_ui.engine.shapes import EMBEDDED_DIMS, ModelShape, PlanUnavailable, SaePlan, read_model_config

LLAMA_3_1_8B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
    "max_position_embeddings": 131072,
}
"""Llama-3.1-8B's real dimensions, as its config.json gives them."""
LLAMA_8B_PARAMS = 8_030_261_248
"""Its published parameter count (8.03 B)."""


def folder_with(path: Path, config: dict) -> str:
    """A model folder holding only a config.json (no weights: the plan never reads them)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    return str(path)


@pytest.mark.parametrize(("config", "params"), [(LLAMA_3_1_8B, LLAMA_8B_PARAMS), (EMBEDDED_DIMS, 134_515_008)])
def test_the_formula_matches_the_meta_device_count(config, params):
    # SmolLM2-135M-Instruct's built-in dimensions give its published count (134.5 M).
    counted = ModelShape.from_config(config, "config.json")
    estimated = ModelShape.from_config({**config, "model_type": "not-in-transformers"}, "config.json")
    assert counted.counted and not estimated.counted
    assert counted.n_params == estimated.n_params == params


def test_sae_sizes_from_cfg_json_from_a_registry_id_or_unknown(tmp_path):
    folder = tmp_path / "sae"
    folder.mkdir()
    (folder / "cfg.json").write_text(json.dumps({"d_in": 4096, "d_sae": 65536}))
    read = SaePlan.of(str(folder), 4096)
    assert read.how == "cfg.json" and read.bytes == (2 * 4096 * 65536 + 2 * 65536 + 4096) * 4  # 2.15 GB in fp32
    registry = SaePlan.of("gemma-scope-2-270m-it-res/layer_12_width_16k_l0_medium", 640)
    assert (registry.d_in, registry.d_sae, registry.how) == (640, 16384, "estimated from the id")
    unknown = SaePlan.of("some-release/some-sae", 640)
    assert unknown.how == "unknown" and unknown.bytes == 0


def test_a_config_that_is_not_here_is_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(PlanUnavailable, match="not in the local Hugging Face cache, and it never downloads"):
        read_model_config("meta-llama/Llama-3.1-8B", tmp_path)
    with pytest.raises(PlanUnavailable, match=r"has no config\.json"):
        read_model_config(str(tmp_path), tmp_path)
