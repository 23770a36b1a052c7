"""The backend over the real embedded engine, one per test (its caches and queues start empty)."""

from __future__ import annotations

import pytest

from saif_ui.service import Backend


@pytest.fixture
def backend(engine):
    return Backend(engine)
