"""Training in the browser (`service.served`): a request's limits with a message naming the field, its time
estimate, and the managed folder its SAE is written into, attached for its visitor only and gone when they leave."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.fast.monitor import Stopped
from saif_ui.service import served
from saif_ui.service.shelf import SaeShelf
from tests.fast.test_pipeline import TINY, Recorder


@pytest.fixture
def cache(engine, tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(engine.config, "cache_dir", tmp_path / "cache")
    return tmp_path / "cache"


def test_served_requests_are_bounded_with_a_message_naming_the_field(engine) -> None:
    n = engine.n_layers
    ok = served.configure(8, "bt", "topk", 1024, 32, 300_000, 0, n)
    assert ok.harvest.method == "bt" and ok.harvest.tokens == 100_000
    assert ok.train.batch_size == served.LIMITS.batch_size
    assert served.configure(8, "fast", "topk", 1024, 32, 2_000_000, 0, n).harvest.tokens == 200_000  # the cap
    assert served.configure(8, "fast", "jumprelu", 1024, 40, 300_000, 0, n).train.target_l0 == 40
    for args, message in (
        ((30, "fast", "topk", 1024, 32, 300_000, 0), "layer must be in 0..29"),
        ((8, "fast", "topk", 100_000, 32, 300_000, 0), "d_sae must be in 64..8192"),
        ((8, "fast", "topk", 1024, 32, 10**9, 0), "token budget must be in"),
        ((8, "fast", "topk", 1024, 2048, 300_000, 0), "k must be a whole number in 1..d_sae"),
        ((8, "fast", "topk", 1024, 2.5, 300_000, 0), "k must be a whole number"),
        ((8, "fast", "standard", 1024, 500, 300_000, 0), "L1 coefficient must be in"),
        ((8, "blocks", "topk", 1024, 32, 300_000, 0), "method must be fast or bt"),
        ((8, "fast", "relu", 1024, 32, 300_000, 0), "architecture must be"),
        ((8, "fast", "topk", 1024, 32, 300_000, -1), "seed"),
    ):
        with pytest.raises(SaifError, match=message):
            served.configure(*args, n)
    # The estimate grows with the work and drops the harvest once it exists.
    more = replace(ok, train=replace(ok.train, tokens=600_000))
    small, big = served.estimate_seconds(engine, ok), served.estimate_seconds(engine, more)
    assert 0 < small < big


def test_a_served_training_is_attached_for_its_visitor_only_and_leaves_with_them(engine, cache) -> None:
    shelf = SaeShelf(engine, engine.results)
    [done] = served.train_for(engine, shelf, "visitor-a", [TINY], Recorder())
    folder = Path(done["folder"])
    assert folder.parent == cache / "uploads" and (folder / "manifest.json").is_file()
    assert done["name"] in shelf.visible("visitor-a") and done["name"] not in shelf.visible("visitor-b")
    assert json.loads((folder / "manifest.json").read_text())["command"] == TINY.command(folder)
    assert shelf.release("visitor-a") == [done["name"]]
    assert not folder.exists() and done["name"] not in engine.saes
    # A stopped served training leaves no folder behind.
    with pytest.raises(Stopped):
        served.train_for(engine, shelf, "visitor-a", [TINY], Recorder(stop_at=("train", 1)))
    assert not served.folder_for(engine, "visitor-a", TINY).exists()
