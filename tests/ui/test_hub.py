"""The hub configuration (`SAIF_MODEL=google/gemma-3-270m-it`, `SAIF_SAES=gemma-scope-2-270m-it-res/...`) on a local
fixture in the same formats: a tiny random Gemma-3 text model saved as a Hugging Face folder with Gemma's chat
template, and a JumpReLU SAE saved by sae-lens with the hook and metadata sae-lens gives Gemma Scope 2 SAEs. The app
is configured by environment variables only, served, and called through gradio_client; the registry path of the SAE
tab is exercised with sae-lens's loader pointed at the fixture (nothing is downloaded)."""

from __future__ import annotations

import json

import pytest
import torch
from gradio_client import Client

from saif_ui.engine import Engine, EngineConfig
from saif_ui.ui.app import build_demo
from tests.conftest import random_sae
from tests.ui.conftest import free_port

RELEASE, SAE_ID = "gemma-scope-2-270m-it-res", "layer_12_width_16k_l0_medium"
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
"""Gemma 3's chat template, shortened: no system role (a system message is merged into the user turn upstream)."""


def gemma_fixture(folder, tokenizer_source: str) -> None:
    """A Gemma-3 text model (18 layers like gemma-3-270m, width 64) with random weights and a Gemma-style tokenizer."""
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    tok = AutoTokenizer.from_pretrained(tokenizer_source)
    tok.add_special_tokens(
        {"bos_token": "<bos>", "eos_token": "<end_of_turn>", "additional_special_tokens": ["<start_of_turn>"]}
    )
    tok.chat_template = GEMMA_TEMPLATE
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=18,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=1024,
        sliding_window=128,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
    )
    Gemma3ForCausalLM(config).eval().save_pretrained(folder)
    tok.save_pretrained(folder)


def gemma_scope_fixture(folder, d_in: int) -> None:
    """A JumpReLU SAE as sae-lens saves a Gemma Scope 2 residual SAE: hook blocks.12.hook_resid_post."""
    sae = random_sae(d_in, 256, "blocks.12.hook_resid_post", seed=1, threshold=0.05, enc_std=0.3)
    sae.cfg.metadata.model_name = "google/gemma-3-270m-it"
    sae.save_model(str(folder))


@pytest.fixture(scope="module")
def hub_app(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    gemma_fixture(root / "gemma-3-270m-it", engine.loaded.path)
    gemma_scope_fixture(root / SAE_ID, d_in=64)
    with pytest.MonkeyPatch.context() as mp:
        # Configuration by environment variables only, as on a Space.
        mp.setenv("SAIF_MODEL", str(root / "gemma-3-270m-it"))
        mp.setenv("SAIF_SAES", str(root / SAE_ID))
        mp.setenv("SAIF_DEVICE", "cpu")
        mp.setenv("SAIF_CACHE_DIR", str(root / "cache"))
        hub_engine = Engine.load(EngineConfig.from_env(warmup=False))
    demo = build_demo(hub_engine)
    demo.queue().launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield hub_engine, Client(demo.local_url, verbose=False), root
    finally:
        demo.close()


def test_gemma_engine_reads_the_sae_at_layer_12(hub_app) -> None:
    engine, _, _ = hub_app
    [sae] = engine.saes.values()
    assert (sae.name, sae.layer, sae.architecture, engine.n_layers) == (SAE_ID, 12, "jumprelu", 18)


def test_prompts_use_gemmas_template(hub_app) -> None:
    _, client, _ = hub_app
    pos, neg = client.predict("french", "", "none", "Cats purr.", "post", True, api_name="/render_prompts")
    turn = "<bos><start_of_turn>user\nCats purr.{}<end_of_turn>\n<start_of_turn>model\n"
    assert pos == turn.format("\n\nTranslate the text into French.") and neg == turn.format("")


def test_discover_card_heatmap_and_steer_on_the_hub_configuration(hub_app) -> None:
    _, client, _ = hub_app
    status, table, _ = client.predict(instruction="french", n_contents=4, top_k=5, api_name="/discover")
    assert f"at **{SAE_ID}** (layer 12), from 4 prompt pairs" in status and table["data"]
    top = [str(row[1]) for row in table["data"][:3]]
    card, lens, *_ = client.predict(sae=SAE_ID, latent=int(top[0]), api_name="/latent_card")
    assert f"Latent #{top[0]} · {SAE_ID} (layer 12)" in card and len(lens["data"]) == 10
    assert "No activation cards" in json.dumps(client.predict(sae=SAE_ID, latent=int(top[0]), api_name="/latent_card"))
    heat = client.predict(n_latents=3, api_name="/heatmap")
    assert json.loads(heat["plot"])["data"][0]["type"] == "heatmap"
    out = client.predict(latents=top, alpha=4.0, max_new_tokens=8, api_name="/steer")
    assert json.loads(out[-1])["latents"][0]["sae"] == SAE_ID and out[0] != out[2]
    details, quality, *_ = client.predict(SAE_ID, api_name="/sae_details")
    assert "No quality report yet" in details and quality["data"][0][1] == "–"


def test_registry_id_goes_through_sae_lens(hub_app, monkeypatch) -> None:
    """`release/sae_id` in the SAE tab calls sae-lens's `SAE.from_pretrained`; here it reads the fixture."""
    from sae_lens import SAE

    engine, client, root = hub_app
    calls = []

    def from_pretrained(release, sae_id, device="cpu", **kwargs):
        calls.append((release, sae_id))
        return SAE.load_from_disk(str(root / SAE_ID), device=device)

    monkeypatch.setattr(SAE, "from_pretrained", staticmethod(from_pretrained))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    _, table, status = client.predict(f"{RELEASE}/other_{SAE_ID}", api_name="/load_registry_sae")
    assert calls == [(RELEASE, f"other_{SAE_ID}")] and status.startswith(
        f"Attached **other_{SAE_ID}** (visible to you only"
    )
    assert f"sae-lens registry `{RELEASE}/other_{SAE_ID}`" in [row[5] for row in table["data"]]  # its origin
    engine.remove_sae(f"other_{SAE_ID}")
