"""The memory plan: parameters counted from config files alone, each part's bytes, a refusal that names the numbers
and what would make it fit, the split of a model across GPUs, and steering hooks on the layers of a split model
(on CPU; across CPU and GPU when one is there)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, Gemma2Config, LlamaConfig, LlamaForCausalLM, Qwen2Config

from saif_ui.engine import engine as engine_module
from saif_ui.engine import hooks
from saif_ui.engine import plan as plan_module
from saif_ui.engine.config import EngineConfig, shipped_saes
from saif_ui.engine.engine import Engine
from saif_ui.engine.model import decoder_layers
from saif_ui.engine.plan import (
    GB,
    Capacity,
    DoesNotFit,
    Limits,
    layer_devices,
    plan_memory,
    preflight,
    split,
)
from saif_ui.engine.shapes import EMBEDDED_DIMS
from saif_ui.engine.steering import Steering
from tests.conftest import tiny_llama_config
from tests.engine.test_shapes import LLAMA_3_1_8B, LLAMA_8B_PARAMS, folder_with

NO_CACHES = {"encode_cache_bytes": 0, "generation_cache_bytes": 0, "result_cache_bytes": 0}


def gpus(*free_gb: float) -> Capacity:
    return Capacity("cuda", tuple(int(g * GB) for g in free_gb), 64 * GB)


def llama_8b(tmp_path: Path, capacity: Capacity, **config: object) -> plan_module.MemoryPlan:
    model = folder_with(tmp_path / "llama-3.1-8b", LLAMA_3_1_8B)
    return plan_memory(EngineConfig(model=model, **{"saes": [], **config}), capacity=capacity)  # type: ignore[arg-type]


# ---------------------------------------------------------------- counting


def test_llama_3_1_8b_is_8_03_b_parameters_16_gb_in_bf16_and_32_gb_in_fp32(tmp_path):
    bf16 = llama_8b(tmp_path, gpus(80))
    assert bf16.shape.n_params == LLAMA_8B_PARAMS and bf16.shape.counted
    assert bf16.dtype == "bfloat16" and bf16.weights == 2 * LLAMA_8B_PARAMS  # 16.06 GB
    fp32 = llama_8b(tmp_path, gpus(80), dtype="float32")
    assert fp32.weights == 4 * LLAMA_8B_PARAMS  # 32.12 GB
    # K and V at 32 layers × 8 KV heads × 128 dims, 2 bytes each, for 32 rows × (1,024 prompt + 1,024 new) tokens
    assert bf16.shape.kv_bytes_per_token(2) == 2 * 32 * 8 * 128 * 2 == 131_072
    assert bf16.kv_cache == 131_072 * 32 * 2048 and fp32.kv_cache == 2 * bf16.kv_cache
    assert bf16.fits and "16.06 GB" in bf16.explain() and "8.03 B parameters" in bf16.explain()


@pytest.mark.parametrize(
    "config",
    [
        tiny_llama_config(),
        Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2),  # q, k and v have biases
        Gemma2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, head_dim=16),  # head_dim is not hidden / heads
    ],
    ids=["llama", "qwen2", "gemma2"],
)  # fmt: skip
def test_tiny_random_models_planned_from_their_saved_config(tmp_path, config):
    config.save_pretrained(tmp_path)  # the config alone
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    plan = plan_memory(EngineConfig(model=str(tmp_path), saes=[]), capacity=Capacity("cpu", (), 8 * GB))
    assert plan.dtype == "float32" and plan.weights == sum(p.numel() * 4 for p in model.parameters())
    # The KV cache a real forward keeps, per token, is the plan's.
    with torch.no_grad():
        cache = model(torch.tensor([[1, 2, 3, 4, 5]]), use_cache=True).past_key_values
    kept = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    assert kept / 5 == plan.shape.kv_bytes_per_token(4)


def test_the_embedded_default_fits_easily_with_its_shipped_saes(tmp_path):
    # A fresh cache folder holds no converted copy: the plan uses SmolLM2-135M's built-in dimensions.
    config = EngineConfig(saes=shipped_saes(), cache_dir=tmp_path)
    plan = plan_memory(config, capacity=Capacity("cpu", (), 8 * GB))
    assert plan.shape.source.startswith("SmolLM2") and plan.shape.n_params == 134_515_008
    assert [(s.d_in, s.d_sae, s.how) for s in plan.saes] == [(576, 4096, "cfg.json")] * 4
    assert plan.fits and plan.total < 6 * GB and plan.suggestions() == []
    assert plan.explain().endswith("Fits.")


def test_an_sae_that_cannot_be_sized_is_named_in_the_plan(tmp_path):
    model = folder_with(tmp_path / "smol", EMBEDDED_DIMS)
    plan = plan_memory(EngineConfig(model=model, saes=["some-release/some-sae"]), capacity=Capacity("cpu", (), GB))
    assert "not counted: some-release/some-sae" in plan.explain()


# ---------------------------------------------------------------- fitting


def test_8b_in_fp32_on_16_gb_is_refused_with_the_numbers_and_bf16(tmp_path):
    plan = llama_8b(tmp_path, gpus(16), dtype="float32")
    assert not plan.fits_one and not plan.fits
    text = plan.explain()
    assert "weights         32.12 GB" in text and "available       16.00 GB" in text
    assert f"Does not fit: one request needs {plan.need_at(1) / GB:.2f} GB, and GPU 0 has 16.00 GB" in text
    [bf16] = [s for s in plan.suggestions() if s.startswith("bfloat16")]
    half = replace(plan, dtype="bfloat16")
    assert f"saves {(plan.need_at(1) - half.need_at(1)) / GB:.2f} GB" in bf16
    # bf16 halves it, but the weights alone are 16.06 GB: still short of 16 GB, and the plan says by how much.
    assert not half.fits_one and f"still {(half.need_at(1) - 16 * GB) / GB:.2f} GB short" in bf16
    assert llama_8b(tmp_path, gpus(24), dtype="bfloat16").fits_one
    assert "SAIF_SKIP_MEMORY_PLAN=1" in text


def test_dropping_saes_is_suggested_with_what_it_saves(tmp_path):
    sae = tmp_path / "sae"
    sae.mkdir()
    (sae / "cfg.json").write_text(json.dumps({"d_in": 4096, "d_sae": 65536}))
    plan = llama_8b(tmp_path, gpus(18), saes=[str(sae), str(sae)])
    assert not plan.fits_one and replace(plan, saes=()).fits_one
    assert "fewer SAEs (SAIF_SAES): the 2 take 4.30 GB; without them, fits" in plan.suggestions()


def test_24_gb_serves_one_request_and_names_the_batch_that_fits(tmp_path):
    plan = llama_8b(tmp_path, gpus(24))
    assert plan.fits_one and not plan.fits
    rows = plan.max_batch()
    at = lambda b: replace(plan, limits=replace(plan.limits, batch=b))  # noqa: E731
    assert 1 <= rows < 32 and at(rows).fits and not at(rows + 1).fits
    assert any(f"{rows} rows of 1,024 + 1,024 tokens fit" in s for s in plan.suggestions())
    prompt = plan.max_prompt_tokens(32)
    assert 8 <= prompt < 1024 and f"SAIF_MAX_PROMPT_TOKENS={prompt}" in plan.explain()


def test_two_gpus_spread_the_model_and_the_split_places_every_layer(tmp_path):
    plan = llama_8b(tmp_path, gpus(12, 12))
    assert plan.spread and plan.available == 24 * GB and plan.fits_one
    alone = replace(plan, device_map="none")
    assert not alone.spread and not alone.fits_one
    wide = 'device_map="auto" across the 2 GPUs (24.00 GB free together): fits'
    assert any(s.startswith(wide) for s in alone.suggestions())
    layers = layer_devices(split(plan))
    assert sorted(layers) == list(range(32)) and set(layers.values()) == {0, 1}
    on_first = [layer for layer, device in layers.items() if device == 0]
    assert on_first == list(range(len(on_first)))  # GPU 0 holds the first layers, GPU 1 the rest
    assert f"layers 0–{len(on_first) - 1} on cuda:0, layers {len(on_first)}–31 on cuda:1" in plan.explain()


# ---------------------------------------------------------------- refusing before loading


@pytest.fixture
def machine(monkeypatch):
    """This machine seen by the plan as one with the given capacity; loading the model is a sentinel error."""

    class Loaded(Exception):
        pass

    def load_model(*args, **kwargs):
        raise Loaded(kwargs.get("device_map"))

    monkeypatch.setattr(engine_module, "load_model", load_model)

    def seen_as(capacity: Capacity) -> type[Exception]:
        monkeypatch.setattr(plan_module.Capacity, "detect", classmethod(lambda cls, device="auto": capacity))
        return Loaded

    return seen_as


def test_engine_load_refuses_before_loading_and_the_override_skips(tmp_path, machine, monkeypatch):
    loaded = machine(Capacity("cpu", (), 16 * GB))  # a 16 GB laptop: fp32 on CPU
    model = folder_with(tmp_path / "llama", LLAMA_3_1_8B)
    with pytest.raises(DoesNotFit, match=r"(?s)cannot be loaded here: it does not fit\.\n.*weights         32\.12 GB"):
        Engine.load(EngineConfig(model=model, saes=[], warmup=False))
    monkeypatch.setenv("SAIF_SKIP_MEMORY_PLAN", "1")
    skipped = EngineConfig.from_env(model=model, saes=[])
    assert not skipped.check_memory
    with pytest.raises(loaded):
        Engine.load(skipped)
    monkeypatch.setenv("SAIF_SKIP_MEMORY_PLAN", "0")
    assert EngineConfig.from_env(model=model, saes=[]).check_memory


def test_preflight_warns_when_only_single_requests_fit_and_decides_the_device_map(tmp_path, machine, caplog):
    model = folder_with(tmp_path / "llama", LLAMA_3_1_8B)
    machine(gpus(24))
    with caplog.at_level(logging.WARNING, logger="saif_ui.engine.plan"):
        assert preflight(EngineConfig(model=model, saes=[])) == "none"
    assert "Serves one request, but 32 rows at the limits need" in caplog.text
    machine(gpus(12, 12))
    assert preflight(EngineConfig(model=model, saes=[])) == "auto"
    machine(Capacity("cpu", (), 64 * GB))
    assert preflight(EngineConfig(model=model, saes=[])) is None  # off a GPU nothing is spread
    assert preflight(EngineConfig(model=str(tmp_path / "missing"), saes=[])) is None  # no config: loading decides


# ---------------------------------------------------------------- steering a split model


def _split_pair(tmp_path: Path) -> tuple[LlamaForCausalLM, LlamaForCausalLM, dict[str, int | str]]:
    """A tiny random Llama whole, its copy, and the plan's split of it over two GPUs (module name → GPU)."""
    config = tiny_llama_config()
    config.save_pretrained(tmp_path / "tiny")
    torch.manual_seed(0)
    whole = LlamaForCausalLM(config).eval()
    copy = LlamaForCausalLM(config).eval()
    copy.load_state_dict(whole.state_dict())
    settings = EngineConfig(model=str(tmp_path / "tiny"), saes=[], device_map="auto", **NO_CACHES)
    plan = plan_memory(settings, capacity=gpus(1, 1), limits=Limits(8, 8, 1))
    return whole, copy, split(plan)


def _ours(model: torch.nn.Module) -> list[str]:
    """Names of the modules that carry one of saif_ui's forward hooks."""
    tagged = lambda m: any(getattr(f, "_saif_ui_hook", False) for f in m._forward_hooks.values())  # noqa: E731
    return [name for name, module in model.named_modules() if tagged(module)]


def test_steering_lands_on_the_planned_layer_of_a_split_model(tmp_path):
    from accelerate import dispatch_model

    whole, split_model, device_map = _split_pair(tmp_path)
    layers = layer_devices(device_map)
    assert layers == {0: 0, 1: 0, 2: 1, 3: 1}
    # On a CPU, the plan's GPU 1 becomes accelerate's disk offload: its layers' weights live on disk and are brought
    # in by accelerate's hooks for each forward, as a second GPU's layers are run by them there.
    on_cpu = {name: ("cpu" if device == 0 else "disk") for name, device in device_map.items()}
    dispatch_model(split_model, on_cpu, offload_dir=str(tmp_path / "offload"))
    layer = 3
    target = decoder_layers(split_model)[layer]
    assert target is split_model.get_submodule(f"model.layers.{layer}") and hasattr(target, "_hf_hook")
    assert target.self_attn.q_proj.weight.device.type == "meta"  # offloaded: the layer's weights are elsewhere
    ids = torch.tensor([[1, 5, 9, 2, 7, 3]])
    vector = torch.randn(32)
    with torch.no_grad():
        plain = split_model(ids).logits
        with hooks.steer(split_model, [Steering(layer, vector)], prompt_len=6):
            assert _ours(split_model) == [f"model.layers.{layer}"]
            steered = split_model(ids).logits
        with hooks.steer(whole, [Steering(layer, vector)], prompt_len=6):
            expected = whole(ids).logits
    assert hooks.hook_count(split_model) == 0 and _ours(split_model) == []
    assert not torch.allclose(steered, plain)
    torch.testing.assert_close(steered, expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_steering_vectors_follow_their_layers_across_cpu_and_gpu(tmp_path):
    from accelerate import dispatch_model

    whole, split_model, device_map = _split_pair(tmp_path)
    # The plan's GPU 0 stays on the CPU and its GPU 1 is the real GPU: layers 0-1 run on the CPU, 2-3 on cuda:0.
    real = {name: ("cpu" if device == 0 else 0) for name, device in device_map.items()}
    dispatch_model(split_model, real, main_device="cpu")
    assert split_model.model.layers[0].self_attn.q_proj.weight.device.type == "cpu"
    assert split_model.model.layers[3].self_attn.q_proj.weight.device.type == "cuda"
    ids = torch.tensor([[1, 5, 9, 2, 7, 3]])
    torch.manual_seed(1)
    early, late = torch.randn(32), torch.randn(32)
    # Each vector starts on the other device than its layer's: the hook moves it to the activation's.
    steer_split = [Steering(1, early.cuda()), Steering(3, late)]
    with torch.no_grad():
        with hooks.steer(split_model, steer_split, prompt_len=6):
            assert _ours(split_model) == ["model.layers.1", "model.layers.3"]
            steered = split_model(ids).logits.cpu()
        with hooks.steer(whole, [Steering(1, early), Steering(3, late)], prompt_len=6):
            expected = whole(ids).logits
    torch.testing.assert_close(steered, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_plan_bounds_a_real_generate_on_the_gpu(tmp_path):
    config = LlamaConfig(vocab_size=32000, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
                         num_attention_heads=16, num_key_value_heads=4, max_position_embeddings=2048)  # fmt: skip
    config.save_pretrained(tmp_path)
    limits = Limits(prompt_tokens=512, new_tokens=256, batch=16)
    settings = EngineConfig(model=str(tmp_path), saes=[], device="cuda", dtype="bfloat16", **NO_CACHES)
    plan = plan_memory(settings, capacity=Capacity.detect("cuda"), limits=limits)
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    model = LlamaForCausalLM(config).to("cuda", torch.bfloat16).eval()
    weights = torch.cuda.memory_allocated() - base
    torch.cuda.reset_peak_memory_stats()
    ids = torch.randint(3, 32000, (16, 512), device="cuda")
    with torch.no_grad():
        mask = torch.ones_like(ids)
        model.generate(ids, attention_mask=mask, max_new_tokens=256, min_new_tokens=256, do_sample=False)
    peak = torch.cuda.max_memory_allocated() - base
    print(f"weights {weights:,} (plan {plan.weights:,}); generate's peak {peak:,} (plan {plan.need_at(16):,}: "
          f"KV {plan.kv_cache:,}, activations {plan.activations:,})")  # fmt: skip
    assert abs(weights - plan.weights) < 0.01 * plan.weights
    assert 0.5 * plan.need_at(16) <= peak <= plan.need_at(16)  # an upper bound, and not a wild one
