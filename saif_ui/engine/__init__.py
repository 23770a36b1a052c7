"""The inference engine: model and SAE loading, scoped hooks, cached encoding and steered generation.

The names below are imported when first used (PEP 562), so that the torch-free parts (`errors`, `decoding`) load
without torch: the command line builds its `--help` from configs that use them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saif_ui.engine.cache import ByteLRU, JsonStore, ResultCache
    from saif_ui.engine.config import EngineConfig
    from saif_ui.engine.decoding import Decoding
    from saif_ui.engine.engine import Engine
    from saif_ui.engine.model import ModelLoadError
    from saif_ui.engine.results import Encoding, Generation
    from saif_ui.engine.sae import LoadedSAE, SAELoadError
    from saif_ui.engine.steering import Clamp, Steering

_HOME = {
    "ByteLRU": "cache",
    "JsonStore": "cache",
    "ResultCache": "cache",
    "EngineConfig": "config",
    "Decoding": "decoding",
    "Engine": "engine",
    "ModelLoadError": "model",
    "Encoding": "results",
    "Generation": "results",
    "LoadedSAE": "sae",
    "SAELoadError": "sae",
    "Steering": "steering",
    "Clamp": "steering",
}
"""Each public name and the module of this package that defines it."""

__all__ = [
    "ByteLRU",
    "Clamp",
    "Decoding",
    "Encoding",
    "Engine",
    "EngineConfig",
    "Generation",
    "JsonStore",
    "LoadedSAE",
    "ModelLoadError",
    "ResultCache",
    "SAELoadError",
    "Steering",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value  # found once
    return value
