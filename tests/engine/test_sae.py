"""SAE loading through sae-lens, hook-name mapping, and the errors for SAEs that do not fit the model."""

import pytest
import torch

from saif_ui.engine import hooks
from saif_ui.engine.sae import SAELoadError, hook_to_layer, load_sae
from tests.conftest import random_sae


@pytest.mark.parametrize(
    ("hook", "layer"),
    [
        ("blocks.3.hook_resid_post", 3),
        ("blocks.3.hook_resid_pre", 2),
        ("blocks.0.hook_resid_pre", -1),
        ("model.layers.5", 5),
        ("model.layers.5.output", 5),
        ("model.model.layers.7", 7),
        ("model.language_model.layers.2", 2),
    ],
)
def test_hook_to_layer(hook, layer):
    assert hook_to_layer(hook) == layer


def test_unsupported_hook_is_refused_with_the_valid_forms():
    with pytest.raises(SAELoadError, match="hook_resid_post"):
        hook_to_layer("blocks.3.attn.hook_z")


def test_saved_sae_loads_through_our_loader(tmp_path):
    sae = random_sae(32, 64, "blocks.2.hook_resid_post")
    sae.save_model(tmp_path / "sae")
    loaded = load_sae(str(tmp_path / "sae"), d_model=32, n_layers=4)
    assert loaded.layer == 2 and loaded.d_sae == 64 and loaded.name == "sae"
    x = torch.randn(5, 32)
    assert torch.equal(loaded.encode(x), sae.encode(x))
    assert torch.equal(loaded.direction(7), sae.W_dec[7])


def test_d_in_mismatch_is_a_clear_error(tmp_path):
    random_sae(16, 64, "blocks.1.hook_resid_post").save_model(tmp_path / "s")
    with pytest.raises(SAELoadError, match="d_in=16 but the model's residual width is 32"):
        load_sae(str(tmp_path / "s"), d_model=32, n_layers=4)


def test_unknown_layer_is_a_clear_error(tmp_path):
    random_sae(32, 64, "blocks.12.hook_resid_post").save_model(tmp_path / "s")
    with pytest.raises(SAELoadError, match=r"layers 0\.\.3"):
        load_sae(str(tmp_path / "s"), d_model=32, n_layers=4)


def test_missing_folder_and_bad_ids_are_clear_errors(tmp_path):
    with pytest.raises(SAELoadError, match="not found"):
        load_sae(str(tmp_path / "nope"), d_model=32, n_layers=4)
    with pytest.raises(SAELoadError, match="neither an SAE folder"):
        load_sae("just-a-name", d_model=32, n_layers=4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SAELoadError, match=r"no cfg\.json"):
        load_sae(str(tmp_path / "empty"), d_model=32, n_layers=4)


@pytest.mark.parametrize(
    ("hook", "hidden_index"), [("blocks.2.hook_resid_post", 3), ("blocks.2.hook_resid_pre", 2), ("model.layers.1", 2)]
)
def test_mapping_reads_the_right_hidden_state(tmp_path, tiny_llama, hook, hidden_index):
    """The residual our hooks hand an SAE is numerically the HF hidden state its hook name denotes."""
    random_sae(32, 64, hook).save_model(tmp_path / "s")
    loaded = load_sae(str(tmp_path / "s"), d_model=32, n_layers=4)
    ids = torch.randint(0, 64, (1, 6), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = tiny_llama(ids, output_hidden_states=True).hidden_states[hidden_index]
        with hooks.capture(tiny_llama, [loaded.layer], stop=False) as store:
            tiny_llama(ids)
    assert torch.equal(store[loaded.layer], ref)


def test_an_sae_is_read_on_the_cpu_then_moved_to_the_models_device(tmp_path) -> None:
    """Reading straight to CUDA would pin host memory through CUDA (refused on a ZeroGPU Space outside a GPU call):
    the weights are read on the CPU and moved; here to the meta device, which needs no GPU."""
    random_sae(64, 32, "blocks.2.hook_resid_post").save_model(str(tmp_path / "s"))
    loaded = load_sae(str(tmp_path / "s"), d_model=64, n_layers=4, device="meta")
    assert loaded.sae.W_dec.device.type == "meta" and str(loaded.sae.cfg.device) == "meta"
    on_cpu = load_sae(str(tmp_path / "s"), d_model=64, n_layers=4)
    assert on_cpu.sae.W_dec.device.type == "cpu" and on_cpu.sae.W_dec.abs().sum() > 0


def test_no_warm_up_generation_at_load_on_a_zerogpu_space(monkeypatch) -> None:
    from dataclasses import replace

    from saif_ui.engine import Engine, EngineConfig

    config = replace(EngineConfig.from_env(saes=[]), device="cpu")  # `auto` would ask the real ZeroGPU for cuda
    calls = []
    monkeypatch.setattr(Engine, "generate", lambda self, *a, **k: calls.append(a))
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    Engine.load(config)
    assert calls == []  # the GPU exists only inside a GPU call there
    monkeypatch.delenv("SPACES_ZERO_GPU")
    Engine.load(config)
    assert len(calls) == 1  # elsewhere the first request does not pay for the first generate
