"""Shared fixtures: the real embedded engine (once per session) and a tiny random Llama for unit tests."""

from __future__ import annotations

import os

import pytest
import torch

from saif_ui.saif.distil.config import DistilConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def engine():
    """The real SmolLM2-135M-Instruct engine, no SAEs attached (tests attach their own)."""
    from saif_ui.engine import Engine, EngineConfig

    return Engine.load(EngineConfig.from_env(saes=[]))


@pytest.fixture
def held(engine, monkeypatch):
    """A gate the real engine's watched generations wait at once they have written some text, until the test opens
    it (`held.set()`, having seen that text): a streaming test then never depends on the machine's speed."""
    import threading

    gate = threading.Event()
    original = engine._generate

    def generate(rows, decoding, use_cache, report=None, watch=None):
        def paused(texts: list[str]) -> None:
            report(texts)
            if any(texts):
                assert gate.wait(300), "the test never opened the gate"

        return original(rows, decoding, use_cache, paused if report else None, watch)

    monkeypatch.setattr(engine, "_generate", generate)
    yield gate
    gate.set()


def tiny_llama_config(layers: int = 4):
    """A Llama config of width 32 and `layers` layers (no download)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128,
    )  # fmt: skip


@pytest.fixture
def tiny_llama():
    """A randomly initialised 4-layer Llama, in eval mode."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(tiny_llama_config()).eval()


def random_sae(
    d_in: int, d_sae: int, hook_name: str, seed: int = 0, *, threshold: float | None = None, enc_std: float = 0.1
):
    """An SAE with random weights and the given hook, as sae-lens would save it: a StandardSAE, or a JumpReLUSAE with
    every threshold at `threshold` when one is given."""
    from sae_lens import JumpReLUSAE, JumpReLUSAEConfig, StandardSAE, StandardSAEConfig

    torch.manual_seed(seed)
    if threshold is None:
        sae = StandardSAE(StandardSAEConfig(d_in=d_in, d_sae=d_sae))
    else:
        sae = JumpReLUSAE(JumpReLUSAEConfig(d_in=d_in, d_sae=d_sae))
    with torch.no_grad():
        sae.W_enc.normal_(0, enc_std)
        sae.W_dec.normal_(0, 0.1)
        if threshold is not None:
            sae.threshold.fill_(threshold)
    sae.cfg.metadata.hook_name = hook_name
    return sae


@pytest.fixture(scope="module")
def l24(engine, tmp_path_factory):
    """The shipped late-layer SAE attached to the real engine, with a private discovery cache, for one module."""
    from saif_ui.engine.config import shipped_saes

    source = next(s for s in shipped_saes() if "L24" in s)
    old = engine.config.cache_dir
    engine.config.cache_dir = tmp_path_factory.mktemp("cache")
    name = engine.add_sae(source).name
    yield name
    engine.remove_sae(name)
    engine.config.cache_dir = old


TINY_DISTIL = DistilConfig(
    n_train=2, answer_tokens=6, steps=3, refit_steps=1, n_val=1, eval_every=1, candidates=8, keep=4, n_discovery=4,
    batch_size=2,
)  # fmt: skip
"""A distillation of seconds at layer 24 (the service's and the Distil panel's tests): two training contents, 6 answer
tokens, one validation content checked every step."""


SHIPPED_SAE_NAMES = ("L08_fast_topk64", "L15_fast_topk64", "L24_fast_topk64", "L27_fast_topk64")
"""The SAEs the repository ships in assets/saes/, each with its cards.npz and umap.npz."""


def shipped_sae_folders() -> list[str]:
    """Folders of the shipped SAEs to parametrize over: the expected ones and any other found in assets/saes/.

    Named, not only globbed, so that a missing asset fails its tests (its folder does not load) instead of leaving an
    empty parameter list that pytest skips.
    """
    from saif_ui.engine.config import shipped_saes
    from saif_ui.resources import assets_dir

    return sorted({*shipped_saes(), *(str(assets_dir() / "saes" / name) for name in SHIPPED_SAE_NAMES)})


@pytest.fixture
def rand_saes(engine, tmp_path, monkeypatch):
    """Random SAEs `rand8` and `rand24` (256 latents) on the real engine, and a private cache folder, for one test."""
    monkeypatch.setattr(engine.config, "cache_dir", tmp_path / "cache")
    names = []
    for layer, seed in ((8, 1), (24, 2)):
        folder = tmp_path / f"rand{layer}"
        random_sae(engine.d_model, 256, f"blocks.{layer}.hook_resid_post", seed=seed).save_model(str(folder))
        names.append(engine.add_sae(str(folder)).name)
    yield names
    for name in names:
        engine.remove_sae(name)


@pytest.fixture
def rand_sae(engine, tmp_path, monkeypatch):
    """A random SAE `rand2` (32 latents) at layer 2 (a cheap forward) and a private cache folder, for one test."""
    monkeypatch.setattr(engine.config, "cache_dir", tmp_path / "cache")
    folder = tmp_path / "rand2"
    random_sae(engine.d_model, 32, "blocks.2.hook_resid_post", seed=3).save_model(str(folder))
    name = engine.add_sae(str(folder)).name
    yield name
    engine.remove_sae(name)
