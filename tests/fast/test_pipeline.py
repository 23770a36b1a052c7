"""The training pipeline the CLI and the Train panel share: harvest → train → report → manifest on the real model with
a tiny budget, the equivalent command recorded, Stop honoured at the next step, and the served training's limits,
managed folder and ownership."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from pathlib import Path

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.fast import served
from saif_ui.fast.config import PipelineConfig, TrainConfig
from saif_ui.fast.monitor import Stopped
from saif_ui.fast.pipeline import run_pipeline
from saif_ui.fast.shelf import SaeShelf
from saif_ui.fast.train_log import LOG_NAME, read_curves

TINY = PipelineConfig.of(
    TrainConfig(layer=2, arch="topk", d_sae=64, k=8, tokens=4096, batch_size=512, lr=3e-3, checkpoint_every=2),
    harvest_tokens=2048, harvest={"max_len": 128}, eval_tokens=2000,
)  # fmt: skip


class Recorder:
    """A monitor that records the phases it saw and asks to stop once `stop_at` (phase, done) is reached."""

    def __init__(self, stop_at: tuple[str, int] | None = None) -> None:
        self.seen: list[tuple[str, int, int]] = []
        self.stop_at = stop_at

    def update(self, phase: str, done: int, total: int) -> None:
        self.seen.append((phase, done, total))

    def stopped(self) -> bool:
        if self.stop_at is None or not self.seen:
            return False
        phase, done, _ = self.seen[-1]
        return phase == self.stop_at[0] and done >= self.stop_at[1]


@pytest.fixture
def cache(engine, tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(engine.config, "cache_dir", tmp_path / "cache")
    return tmp_path / "cache"


def test_the_pipeline_trains_reports_and_records_the_command(engine, cache, tmp_path) -> None:
    monitor = Recorder()
    out = tmp_path / "sae"
    manifest = run_pipeline(engine, TINY, out, commit="abc", command=TINY.command(out), progress=False,
                            monitor=monitor)  # fmt: skip
    for name in ("cfg.json", "sae_weights.safetensors", "report.json", "manifest.json", LOG_NAME):
        assert (out / name).is_file(), name
    assert manifest["git_commit"] == "abc" and manifest["layer"] == 2 and manifest["train"]["steps"] == 8
    assert json.loads((out / "manifest.json").read_text())["report"] == manifest["report"]
    assert 0 < manifest["report"]["explained_variance"] <= 1
    # The curve holds the trainer's own metrics step by step; the monitor saw every phase in order.
    curves = read_curves(out / LOG_NAME)
    assert {"loss", "mse", "l0"} <= set(curves) and curves["l0"][-1][0] == 8
    phases = list(dict.fromkeys(p for p, _, _ in monitor.seen))
    assert phases[0].startswith("harvest") and "train" in phases and phases[-1] == "report"
    assert ("train", 8, 8) in monitor.seen
    # The recorded command is the train-sae command line of exactly this config.
    args = shlex.split(manifest["command"])
    assert args[:4] == ["python", "-m", "saif_ui", "train-sae"]
    flags = dict(zip(args[4::2], args[5::2], strict=True))
    assert flags["--layer"] == "2" and flags["--d-sae"] == "64" and flags["--k"] == "8"
    assert flags["--harvest-tokens"] == "2048" and flags["--out"] == str(out)


def test_stop_ends_training_at_the_next_step_and_keeps_the_checkpoints(engine, cache, tmp_path) -> None:
    out = tmp_path / "sae"
    with pytest.raises(Stopped, match="stopped during train"):
        run_pipeline(engine, TINY, out, commit="abc", progress=False, monitor=Recorder(stop_at=("train", 3)))
    assert not (out / "manifest.json").exists() and not (out / "sae_weights.safetensors").exists()
    assert max(step for step, _ in read_curves(out / LOG_NAME)["loss"]) <= 3
    assert list((out / "checkpoints").iterdir())  # what was checkpointed stays: a rerun resumes from it


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
