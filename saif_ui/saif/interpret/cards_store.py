"""Where latent cards come from: shipped beside an SAE, cached on disk, or computed now and cached, keyed by model,
SAE weights and every setting."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from saif_ui.engine import Engine, LoadedSAE
from saif_ui.engine.cache import digest, sae_fingerprint
from saif_ui.engine.errors import SaifError
from saif_ui.saif.interpret.cards import CARDS_VERSION, SHIPPED_FILE, CardsConfig, LatentCards
from saif_ui.saif.interpret.cards_build import build_cards, build_cards_many

log = logging.getLogger(__name__)


def cards_key(engine: Engine, sae: LoadedSAE, cfg: CardsConfig, fingerprint: str | None = None) -> str:
    """Cache key of cards: `CARDS_VERSION`, the model, the SAE's weights (`fingerprint`, computed if not given) and
    every setting (the held-out conversations, system prompt and sampling seed among them).

    Not the SAE's source: shipped cards are checked against this key, so it must not hold a checkout-specific path,
    and the fingerprint already tells two SAEs apart."""
    sae_hash = fingerprint or sae_fingerprint(sae)
    return digest({"version": CARDS_VERSION, "model": engine.loaded.model_id, "sae": sae_hash, **cfg.key_settings()})


def _stamp(cards: LatentCards, engine: Engine, sae: LoadedSAE, cfg: CardsConfig) -> LatentCards:
    """Record which weights and settings made `cards`, so a reader can tell whether they still apply."""
    cards.sae_fingerprint = sae_fingerprint(sae)
    cards.key = cards_key(engine, sae, cfg, cards.sae_fingerprint)
    return cards


def cache_path(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / "cards" / f"{key}.npz"


def shipped_path(sae: LoadedSAE) -> Path | None:
    """Where a folder SAE's shipped cards live (None for registry SAEs)."""
    folder = Path(sae.source).expanduser()
    return folder / SHIPPED_FILE if folder.is_dir() else None


def _read(path: Path | None) -> LatentCards | None:
    if path is None or not path.is_file():
        return None
    try:
        return LatentCards.load(path)
    except (ValueError, KeyError, TypeError) as e:
        log.warning("ignoring unreadable cards %s: %s", path, e)
        return None


def find_cards(engine: Engine, sae_name: str, cfg: CardsConfig | None = None) -> LatentCards | None:
    """Shipped or cached cards of an attached SAE, or None; never computes.

    With `cfg` None, shipped cards of these exact weights and model are taken whatever settings made them, else the
    disk cache of the default settings; with a `cfg`, only cards made with exactly those settings.
    """
    sae = engine.sae(sae_name)
    fingerprint = sae_fingerprint(sae)
    key = cards_key(engine, sae, cfg or CardsConfig(), fingerprint)
    shipped = _read(shipped_path(sae))
    if shipped is not None and (
        shipped.key == key
        if cfg is not None
        else (shipped.sae_fingerprint, shipped.model) == (fingerprint, engine.loaded.model_id)
    ):
        shipped.source = "shipped"
        return shipped
    cached = _read(cache_path(engine.config.cache_dir, key))
    if cached is not None and cached.key == key:
        cached.source = "cache"
        return cached
    return None


def latent_cards(
    engine: Engine, sae_name: str, cfg: CardsConfig | None = None, *, progress: bool = True
) -> LatentCards:
    """Cards of an attached SAE: shipped, else cached under `cache_dir/cards/`, else computed now (minutes on a CPU
    for the defaults) and cached, keyed by model, SAE weights and every setting."""
    found = find_cards(engine, sae_name, cfg)
    if found is not None:
        return found
    settings = cfg or CardsConfig()
    log.info("computing cards of %s from %d held-out conversations", sae_name, settings.n_conversations)
    cards = _stamp(
        build_cards(engine, sae_name, cfg=settings, progress=progress), engine, engine.sae(sae_name), settings
    )
    cards.save(cache_path(engine.config.cache_dir, cards.key))
    return cards


def ship_cards(
    engine: Engine, sae_names: Sequence[str], cfg: CardsConfig | None = None, *, progress: bool = True
) -> dict[str, Path]:
    """Compute cards of folder SAEs in one pass and write each into its SAE's folder (for SAEs this project ships)."""
    cfg = cfg or CardsConfig()
    folders = {}
    for name in sae_names:
        path = shipped_path(engine.sae(name))
        if path is None:
            raise SaifError(f"{name} was not loaded from a folder, so there is nowhere to ship its cards")
        folders[name] = path
    out = {}
    for name, cards in build_cards_many(engine, list(folders), cfg, progress=progress).items():
        out[name] = _stamp(cards, engine, engine.sae(name), cfg).save(folders[name])
    return out
