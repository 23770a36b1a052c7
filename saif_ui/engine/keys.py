"""The parts of a result key that name the model and an SAE, shared by the shipped studies and the recipe search:
what a key holds must not depend on the folder a checkout sits in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from saif_ui.engine.cache import sae_fingerprint

if TYPE_CHECKING:
    from saif_ui.engine.engine import Engine


def engine_key(engine: Engine) -> dict[str, Any]:
    """The part of every key that names the model as the studies run it."""
    return {
        "model": engine.config.model,
        "dtype": str(engine.loaded.dtype),
        "system_prompt": engine.chat.default_system_prompt,
    }


def sae_key(engine: Engine, name: str) -> dict[str, str]:
    """An attached SAE in a shipped key: its name and weight fingerprint, not the folder it was loaded from (a
    checkout elsewhere must find the same key)."""
    return {"sae_name": name, "sae_weights": sae_fingerprint(engine.sae(name))}
