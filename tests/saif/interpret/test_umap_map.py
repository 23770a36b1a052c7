"""Tests for saif_ui.saif.interpret.umap_map: the 2-D map of an SAE's latents, its disk cache and shipped copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import saif_ui.saif.interpret.umap_map as umap_map
from saif_ui.engine.sae import load_sae
from saif_ui.saif.interpret.umap_map import SHIPPED_FILE, UmapConfig, cache_path, ship_umap, umap_coords
from tests.conftest import random_sae, shipped_sae_folders

CFG = UmapConfig(n_neighbors=5)


def _sae(folder, seed: int = 0):
    random_sae(16, 40, "blocks.1.hook_resid_post", seed=seed).save_model(str(folder))
    return load_sae(str(folder), d_model=16, n_layers=4)


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """One real UMAP fit for the module (umap-learn's first import and fit take tens of seconds)."""
    root = tmp_path_factory.mktemp("umap")
    sae = _sae(root / "sae")
    return sae, root / "cache", umap_coords(sae, root / "cache", CFG)


def _no_fit(*args, **kwargs):
    raise AssertionError("UMAP was refitted instead of read from disk")


def test_coords_shape_and_cache_round_trip(computed, monkeypatch) -> None:
    sae, cache, coords = computed
    assert coords.shape == (40, 2) and coords.dtype == np.float32 and np.isfinite(coords).all()
    assert cache_path(cache, sae, CFG).is_file()
    monkeypatch.setattr(umap_map, "compute_umap", _no_fit)
    assert np.array_equal(umap_coords(sae, cache, CFG), coords)


def test_shipped_map_is_read_from_the_sae_folder(computed, tmp_path, monkeypatch) -> None:
    sae, cache, coords = computed
    path = ship_umap(sae, cache, CFG)
    try:
        assert path == Path(sae.source) / SHIPPED_FILE
        monkeypatch.setattr(umap_map, "compute_umap", _no_fit)
        assert np.array_equal(umap_coords(sae, tmp_path / "empty-cache", CFG), coords)
    finally:
        path.unlink()


def test_other_settings_or_weights_do_not_reuse_a_map(computed, tmp_path, monkeypatch) -> None:
    sae, cache, _ = computed
    other = _sae(tmp_path / "other", seed=1)
    assert cache_path(cache, other, CFG) != cache_path(cache, sae, CFG)
    assert cache_path(cache, sae, UmapConfig(n_neighbors=6)) != cache_path(cache, sae, CFG)
    fake = np.zeros((40, 2), np.float32)
    monkeypatch.setattr(umap_map, "compute_umap", lambda w, cfg: fake)
    assert umap_coords(other, cache, CFG) is fake  # computed, not taken from the first SAE's file
    # A corrupt cache file is recomputed rather than trusted.
    cache_path(cache, other, CFG).write_bytes(b"garbage")
    assert np.array_equal(umap_coords(other, cache, CFG), fake)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="n_neighbors"):
        UmapConfig(n_neighbors=1)


@pytest.mark.parametrize("folder", shipped_sae_folders())
def test_shipped_maps_are_used_without_refitting(folder, tmp_path, monkeypatch) -> None:
    path = Path(folder) / SHIPPED_FILE
    assert path.is_file(), f"{path} is missing: every shipped SAE ships its UMAP map"
    assert path.stat().st_size < 10 * 2**20
    sae = load_sae(folder, d_model=576, n_layers=30)
    monkeypatch.setattr(umap_map, "compute_umap", _no_fit)
    coords = umap_coords(sae, tmp_path / "empty-cache")
    assert coords.shape == (sae.d_sae, 2) and np.isfinite(coords).all()
    assert not (tmp_path / "empty-cache").exists()  # read from the SAE's folder, nothing cached
