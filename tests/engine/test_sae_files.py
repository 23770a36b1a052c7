"""An SAE's files checked before anything is copied: each wrong field of cfg.json and each kind of broken weights
file gets its own message."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from saif_ui.engine.sae import SAELoadError
from saif_ui.engine.sae_files import check_sae_files
from tests.conftest import random_sae

D_MODEL, N_LAYERS, D_SAE = 576, 30, 16


@pytest.fixture
def good(tmp_path) -> tuple[Path, Path]:
    """A valid sae-lens folder (a random StandardSAE reading block 3)."""
    sae = random_sae(D_MODEL, D_SAE, "blocks.3.hook_resid_post")
    sae.save_model(str(tmp_path / "sae"))
    return tmp_path / "sae" / "cfg.json", tmp_path / "sae" / "sae_weights.safetensors"


def edit_cfg(path: Path, change) -> None:
    cfg = json.loads(path.read_text())
    change(cfg)
    path.write_text(json.dumps(cfg))


def test_a_valid_folder_passes(good) -> None:
    files = check_sae_files(*good, D_MODEL, N_LAYERS)
    assert (files.layer, files.d_in, files.d_sae) == (3, D_MODEL, D_SAE)


CFG_CASES = [
    (lambda c: c.update(d_in=None), "'d_in' in cfg.json must be the residual width, a whole number, not null"),
    (lambda c: c.update(d_in="576"), "'d_in' in cfg.json must be the residual width"),
    (lambda c: c.update(d_in=768), "d_in=768 but the model's residual width is 576"),
    (lambda c: c.pop("d_sae"), "cfg.json has no 'd_sae'"),
    (lambda c: c.update(d_sae=10**9), "'d_sae' must be within"),
    (lambda c: c.update(d_sae=True), "'d_sae' in cfg.json must be the number of latents"),
    (lambda c: c.update(architecture="transformer"), "'architecture' in cfg.json must be one of"),
    (lambda c: c.update(architecture="topk"), "cfg.json has no 'k'"),
    (lambda c: c.update(architecture="topk", k=99), r"'k' must be within 1\.\.d_sae"),
    (lambda c: c.pop("metadata"), "cfg.json has no 'metadata'"),
    (lambda c: c["metadata"].update(hook_name=None), "'hook_name' in metadata must be the hook"),
    (lambda c: c["metadata"].update(hook_name="blocks.40.hook_resid_post"), r"the model has layers 0\.\.29"),
    (lambda c: c["metadata"].update(hook_name="embed"), "hook"),
    (lambda c: c.update(dtype=32), "'dtype' in cfg.json must be a string"),
]


@pytest.mark.parametrize(("change", "message"), CFG_CASES)
def test_each_wrong_cfg_field_is_named(good, change, message) -> None:
    edit_cfg(good[0], change)
    with pytest.raises(SAELoadError, match=message):
        check_sae_files(*good, D_MODEL, N_LAYERS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("[" * 100 + "]" * 100, "nests 33 levels deep"),
        ("", "not valid JSON"),
    ],
)
def test_unreadable_cfg_files(good, text, message) -> None:
    good[0].write_text(text)
    with pytest.raises(SAELoadError, match=message):
        check_sae_files(*good, D_MODEL, N_LAYERS)


def test_an_oversized_cfg_is_refused_unparsed(good) -> None:
    good[0].write_text(json.dumps({"d_in": D_MODEL, "pad": "x" * 300_000}))
    with pytest.raises(SAELoadError, match=r"a sae-lens cfg\.json is under 1 KB"):
        check_sae_files(*good, D_MODEL, N_LAYERS)


def weights_of(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return dict(load_file(str(path)))


def test_a_pickle_renamed_safetensors_is_refused_before_it_is_read(good) -> None:
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle code ran')",))

    good[1].write_bytes(pickle.dumps(Boom()))
    with pytest.raises(SAELoadError, match="not a safetensors file"):
        check_sae_files(*good, D_MODEL, N_LAYERS)
    torch.save({"W_enc": torch.zeros(2)}, good[1])  # torch's own (zip) pickle format
    with pytest.raises(SAELoadError, match="not a safetensors file"):
        check_sae_files(*good, D_MODEL, N_LAYERS)


@pytest.mark.parametrize("cut", [0, 4, 100, -10])
def test_truncated_weights(good, cut) -> None:
    raw = good[1].read_bytes()
    good[1].write_bytes(raw[:cut])
    with pytest.raises(SAELoadError, match=r"not a safetensors file|do not fit the file"):
        check_sae_files(*good, D_MODEL, N_LAYERS)


def test_shapes_must_match_the_cfg(good) -> None:
    edit_cfg(good[0], lambda c: c.update(d_sae=32))
    with pytest.raises(SAELoadError, match=r"W_enc has shape \(576, 16\); cfg.json's sizes need \(576, 32\)"):
        check_sae_files(*good, D_MODEL, N_LAYERS)


def test_a_missing_tensor_is_named(good) -> None:
    tensors = weights_of(good[1])
    del tensors["W_enc"]
    save_file(tensors, str(good[1]))
    with pytest.raises(SAELoadError, match="has no W_enc"):
        check_sae_files(*good, D_MODEL, N_LAYERS)


def test_integer_tensors_are_refused(good) -> None:
    tensors = weights_of(good[1])
    tensors["b_enc"] = torch.zeros(D_SAE, dtype=torch.int32)
    save_file(tensors, str(good[1]))
    with pytest.raises(SAELoadError, match="'b_enc' must be a float tensor"):
        check_sae_files(*good, D_MODEL, N_LAYERS)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused(good, value) -> None:
    tensors = weights_of(good[1])
    tensors["W_dec"][3, 7] = value
    save_file(tensors, str(good[1]))
    with pytest.raises(SAELoadError, match="W_dec holds NaN or infinite values"):
        check_sae_files(*good, D_MODEL, N_LAYERS)
