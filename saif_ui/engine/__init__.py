"""The inference engine: model and SAE loading, scoped hooks, cached encoding and steered generation."""

from saif_ui.engine.cache import ByteLRU, JsonStore, ResultCache
from saif_ui.engine.config import EngineConfig
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.engine import Engine
from saif_ui.engine.model import ModelLoadError
from saif_ui.engine.results import Encoding, Generation
from saif_ui.engine.sae import LoadedSAE, SAELoadError
from saif_ui.engine.steering import Steering

__all__ = [
    "ByteLRU",
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
