"""Processes killed (SIGKILL) in the middle of a cache write and of a discovery: after a restart nothing half-written
is trusted, the next run computes what a clean run computes, and the leftovers are cleaned up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from saif_ui.engine.cache import JsonStore, load_npz, remove_stale_temps

WRITER = """
import sys, numpy as np
from pathlib import Path
from saif_ui.engine.cache import JsonStore, save_npz
root = Path(sys.argv[1])
store = JsonStore(root / "json")
i = 0
while True:
    save_npz(root / "big.npz", {"a": np.full(4_000_000, i, dtype=np.int64)}, {"i": i})
    store.put("doc", {"k": 1}, {"i": i, "pad": "x" * 2_000_000})
    i += 1
"""


def temps(root: Path) -> list[Path]:
    return list(root.rglob(".tmp-*"))


def kill_when(proc: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    """SIGKILL `proc` as soon as `ready()` holds (polled every millisecond)."""
    end = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "the child died"
        assert time.monotonic() < end, "the child never reached the point to kill it at"
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_write_killed_halfway_is_never_read(tmp_path) -> None:
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stderr=subprocess.PIPE)
        # Kill while a temporary file is being written (after the first complete files exist, from round 2 on).
        kill_when(proc, lambda r=round_: bool(temps(tmp_path)) and (r == 0 or (tmp_path / "big.npz").exists()))
        hit = load_npz(tmp_path / "big.npz")
        if hit is not None:  # the last complete write, whole: never a mix of two writes or a truncated file
            arrays, meta = hit
            assert (arrays["a"] == meta["i"]).all() and arrays["a"].shape == (4_000_000,)
        doc = JsonStore(tmp_path / "json").get("doc", {"k": 1})
        assert doc is None or (set(doc) == {"i", "pad"} and len(doc["pad"]) == 2_000_000)
    assert temps(tmp_path)  # SIGKILL leaves the partial temp files behind ...
    for path in temps(tmp_path):
        os.utime(path, (0, 0))
    removed = remove_stale_temps(tmp_path)  # ... which the next start removes (Engine.load calls this)
    assert removed and not temps(tmp_path)
    assert (tmp_path / "big.npz").exists() or load_npz(tmp_path / "big.npz") is None


def test_fresh_temps_are_kept_they_may_belong_to_a_live_writer(tmp_path) -> None:
    (tmp_path / ".tmp-x-123.npz").write_bytes(b"partial")
    assert remove_stale_temps(tmp_path) == [] and temps(tmp_path)


DISCOVERY = """
import sys
from pathlib import Path
from saif_ui.engine import Engine, EngineConfig
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import discover
engine = Engine.load(EngineConfig.from_env(saes=[sys.argv[2]], cache_dir=Path(sys.argv[1]), warmup=False))
print("loaded", flush=True)
discover(engine, "french", engine.sae_names()[0], DiscoveryConfig(n_contents=int(sys.argv[3]), top_k=10))
print("done", flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_discovery_killed_midway_is_recomputed_not_half_trusted(engine, tmp_path, monkeypatch) -> None:
    from saif_ui.engine.config import shipped_saes
    from saif_ui.saif.discovery.config import DiscoveryConfig
    from saif_ui.saif.discovery.discover import discover

    source = next(s for s in shipped_saes() if "L24" in s)
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(DISCOVERY), str(cache), source, "64"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"loaded"
    time.sleep(0.5)  # well into encoding 64 prompt pairs (seconds on two cores)
    assert proc.poll() is None, "the discovery finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    monkeypatch.setattr(engine.config, "cache_dir", cache)
    name = engine.add_sae(source).name
    try:
        again = discover(engine, "french", name, DiscoveryConfig(n_contents=64, top_k=10))
        assert not again.cached  # nothing the killed run left was taken for a result
        monkeypatch.setattr(engine.config, "cache_dir", tmp_path / "clean")
        clean = discover(engine, "french", name, DiscoveryConfig(n_contents=64, top_k=10), use_cache=False)
        assert again.ids == clean.ids
        np.testing.assert_allclose([r.score for r in again.latents], [r.score for r in clean.latents], rtol=1e-5)
    finally:
        engine.remove_sae(name)
