"""The app served on a free localhost port around the real engine, shared by a test module."""

from __future__ import annotations

import socket

import pytest

from saif_ui.engine.config import shipped_saes
from saif_ui.ui.app import build_demo, launch_kwargs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(engine, tmp_path_factory):
    """(engine, demo): the session engine with the shipped SAEs attached, a private cache directory, the app
    launched once for the module; everything is put back afterwards."""
    old_cache, before = engine.config.cache_dir, set(engine.saes)
    engine.config.cache_dir = tmp_path_factory.mktemp("ui-cache")
    for folder in shipped_saes():
        engine.add_sae(folder)
    demo = build_demo(engine)
    demo.queue().launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, **launch_kwargs()
    )
    try:
        yield engine, demo
    finally:
        demo.close()
        for name in set(engine.saes) - before:
            engine.remove_sae(name)
        engine.config.cache_dir = old_cache
