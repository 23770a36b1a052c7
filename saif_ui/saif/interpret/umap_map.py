"""A 2-D UMAP map of an SAE's latents (decoder directions), shipped beside the SAE or cached on disk."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from saif_ui.engine import LoadedSAE
from saif_ui.engine.cache import digest, load_npz, sae_fingerprint, save_npz
from saif_ui.engine.errors import SaifError

log = logging.getLogger(__name__)
SHIPPED_FILE = "umap.npz"
"""Precomputed map inside a shipped SAE's folder."""


@dataclass(frozen=True)
class UmapConfig:
    """umap-learn settings. Cosine on decoder rows: a latent's direction matters, not its norm."""

    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    seed: int = 0
    """A fixed seed makes the map reproducible (umap-learn then runs single-threaded, which suits a shared CPU)."""

    def __post_init__(self) -> None:
        if self.n_neighbors < 2 or not 0.0 <= self.min_dist <= 1.0:
            raise SaifError("n_neighbors must be >= 2 and min_dist in [0, 1]")


def umap_key(sae: LoadedSAE, cfg: UmapConfig) -> str:
    """Cache key of a map: the SAE's weight fingerprint (decoder rows, hook, architecture) and every UMAP setting.

    The map is a function of the decoder rows alone, so neither the model nor the SAE's source is part of it (no
    model is even needed): the same weights give the same map, and a shipped `umap.npz` is checked against this key,
    so it must not hold a checkout-specific path.
    """
    return digest({"sae": sae_fingerprint(sae), **asdict(cfg)})


def compute_umap(w_dec: np.ndarray, cfg: UmapConfig = UmapConfig()) -> np.ndarray:
    """UMAP coordinates [n_latents, 2] (float32) of decoder rows [n_latents, d_model]."""
    import umap  # ~27 s on first import (numba compiles), so only when a map is really computed

    n = w_dec.shape[0]
    if n < 3:
        raise SaifError("UMAP needs at least 3 latents")
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(cfg.n_neighbors, n - 1),
        min_dist=cfg.min_dist,
        metric=cfg.metric,
        random_state=cfg.seed,
        n_jobs=1,  # what a seed implies anyway; saying so silences umap-learn's warning
    )
    return np.asarray(reducer.fit_transform(w_dec.astype(np.float32)), dtype=np.float32)


def _decoder(sae: LoadedSAE) -> np.ndarray:
    return np.asarray(sae.sae.W_dec.detach().float().cpu().numpy())


def cache_path(cache_dir: Path, sae: LoadedSAE, cfg: UmapConfig) -> Path:
    return Path(cache_dir) / "umap" / f"{umap_key(sae, cfg)}.npz"


def _read(path: Path, key: str, n: int) -> np.ndarray | None:
    loaded = load_npz(path)
    if loaded is None:
        return None
    arrays, meta = loaded
    coords = arrays.get("coords")
    if meta.get("key") != key or coords is None or coords.shape != (n, 2):
        return None  # another SAE's or another setting's map: recompute rather than show a wrong one
    return coords


def find_umap(sae: LoadedSAE, cache_dir: Path, cfg: UmapConfig = UmapConfig()) -> np.ndarray | None:
    """The shipped map (a matching `umap.npz` in the SAE's folder) or the cached one, or None; never computes."""
    key, n = umap_key(sae, cfg), sae.d_sae
    folder = Path(sae.source).expanduser()
    if folder.is_dir():
        shipped = _read(folder / SHIPPED_FILE, key, n)
        if shipped is not None:
            return shipped
    return _read(cache_path(cache_dir, sae, cfg), key, n)


def umap_available(sae: LoadedSAE, cache_dir: Path, cfg: UmapConfig = UmapConfig()) -> bool:
    """True when the map of `sae` is shipped or cached, so showing it is instant."""
    return find_umap(sae, cache_dir, cfg) is not None


def umap_coords(sae: LoadedSAE, cache_dir: Path, cfg: UmapConfig = UmapConfig()) -> np.ndarray:
    """The map of all latents of `sae`: the shipped one if its folder has a matching `umap.npz`, else the disk cache
    under `cache_dir/umap/`, else computed now (tens of seconds) and cached."""
    found = find_umap(sae, cache_dir, cfg)
    if found is not None:
        return found
    key, n = umap_key(sae, cfg), sae.d_sae
    log.info("computing the UMAP map of %s (%d latents)", sae.name, n)
    start = time.perf_counter()
    coords = compute_umap(_decoder(sae), cfg)
    save_npz(
        cache_path(cache_dir, sae, cfg),
        {"coords": coords},
        {"key": key, "sae": sae.name, "seconds": time.perf_counter() - start},
    )
    return coords


def ship_umap(sae: LoadedSAE, cache_dir: Path, cfg: UmapConfig = UmapConfig()) -> Path:
    """Write the map into the SAE's own folder (for the SAEs this project ships), computing it if needed."""
    folder = Path(sae.source).expanduser()
    if not folder.is_dir():
        raise SaifError(f"{sae.name} was not loaded from a folder, so there is nowhere to ship its map")
    coords = umap_coords(sae, cache_dir, cfg)
    path = folder / SHIPPED_FILE
    save_npz(path, {"coords": coords}, {"key": umap_key(sae, cfg), "sae": sae.name, "config": asdict(cfg)})
    return path
