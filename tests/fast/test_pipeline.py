"""The training pipeline the CLI and the Train panel share: harvest → train → report → manifest on the real model with
a tiny budget, the equivalent command recorded, and Stop honoured at the next step (the served training's limits,
managed folder and ownership: tests/service/test_served.py)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from saif_ui.fast.config import PipelineConfig, TrainConfig
from saif_ui.fast.monitor import Stopped
from saif_ui.fast.pipeline import run_pipeline
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
