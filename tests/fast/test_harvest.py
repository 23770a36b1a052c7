"""Harvesting real SmolLM2 activations: FAST keeps conversations apart, BT packs fixed blocks, position 0 is dropped."""

import numpy as np
import pytest

from saif_ui.fast.config import HarvestConfig
from saif_ui.fast.data import DataConfig, build_dataset
from saif_ui.fast.harvest import Harvest, harvest


@pytest.fixture(scope="module")
def conversations():
    return build_dataset(DataConfig(limit=400)).train[:60]


def _system_token(engine) -> int:
    return engine.chat.tokenize("system")[0]


def test_fast_harvest_never_joins_two_conversations(engine, conversations, tmp_path):
    cfg = HarvestConfig(layers=[2, 4], method="fast", tokens=3000, max_len=128, batch_tokens=1024)
    h = harvest(engine, cfg, tmp_path / "fast", conversations=conversations, progress=False)
    assert h.n_tokens == 3000 and h.activations(4).shape == (3000, 576) and h.activations(2).dtype == np.float16
    system, seq = _system_token(engine), np.asarray(h.sequence)
    for s in np.unique(seq):
        ids = np.asarray(h.token_ids)[seq == s]
        # Position 0 (<|im_start|>) is gone, so every FAST sequence starts at its own system turn and holds no other.
        assert ids[0] == system
        assert (ids == system).sum() == 1
    # No stored residual has the attention sink's huge norm.
    norms = np.linalg.norm(h.activations(4).astype(np.float32), axis=1)
    assert norms.max() < 10 * np.median(norms)
    assert 0 < h.meta["special_fraction"] < 0.5


def test_bt_blocks_have_fixed_length_and_span_conversations(engine, conversations, tmp_path):
    cfg = HarvestConfig(layers=[3], method="bt", tokens=3000, block_len=128, max_len=128, batch_tokens=1024)
    h = harvest(engine, cfg, tmp_path / "bt", conversations=conversations, progress=False)
    seq = np.asarray(h.sequence)
    counts = np.bincount(seq)
    assert set(counts.tolist()) == {127}  # block_len minus the dropped position 0
    system = _system_token(engine)
    per_block = [(np.asarray(h.token_ids)[seq == s] == system).sum() for s in np.unique(seq)]
    assert max(per_block) >= 2 or min(per_block) == 0  # blocks cut through conversations


def test_finished_harvest_is_reused_and_unfinished_is_not_listed(engine, conversations, tmp_path):
    cfg = HarvestConfig(layers=[1], tokens=500, max_len=64, batch_tokens=512)
    first = harvest(engine, cfg, tmp_path / "h", conversations=conversations, progress=False)
    calls = engine.forward_calls
    again = harvest(engine, cfg, tmp_path / "h", conversations=conversations, progress=False)
    assert engine.forward_calls == calls and again.meta == first.meta
    assert not any(p.name.startswith(".tmp") for p in tmp_path.iterdir())
    with pytest.raises(FileNotFoundError, match="not a finished harvest"):
        Harvest.open(tmp_path)
    with pytest.raises(ValueError, match="was not harvested"):
        first.activations(5)
