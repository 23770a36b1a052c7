"""Fixtures shared by the steering tests."""

from __future__ import annotations

import pytest

from saif_ui.engine.config import shipped_saes


@pytest.fixture(scope="module")
def l24(engine, tmp_path_factory):
    """The shipped late-layer SAE attached to the real engine, with a private discovery cache, for one module."""
    source = next(s for s in shipped_saes() if "L24" in s)
    old = engine.config.cache_dir
    engine.config.cache_dir = tmp_path_factory.mktemp("cache")
    name = engine.add_sae(source).name
    yield name
    engine.remove_sae(name)
    engine.config.cache_dir = old
