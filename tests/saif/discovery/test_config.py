"""Tests for saif_ui.saif.discovery.config: settings validated by name, and a module that loads without torch (the
command line builds `discover --help` from it)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from saif_ui.saif.discovery.config import DiscoveryConfig


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="placement"):
        DiscoveryConfig(placement="none")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positions"):
        DiscoveryConfig(positions="first")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="score"):
        DiscoveryConfig(score="best")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="top_k"):
        DiscoveryConfig(top_k=0)


def test_config_loads_without_torch() -> None:
    code = "import sys, saif_ui.saif.discovery.config; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
