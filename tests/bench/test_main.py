"""`python -m bench --gpu`: without CUDA it stops at once (exit 2, a message saying why, no results file, no model
loaded); a GPU run's file is named after its GPU and never mistaken for a CPU run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import bench.__main__ as cli
from bench import GPU_IDS, IDS

ROOT = Path(__file__).resolve().parents[2]


def _no_measuring(*args: object, **kwargs: object) -> list:
    raise AssertionError("measure() ran: --gpu without CUDA must stop before loading anything")


def test_gpu_without_cuda_exits_2_with_the_reason_and_writes_nothing(tmp_path, monkeypatch, capsys) -> None:
    results = tmp_path / "results"
    monkeypatch.setattr(cli, "RESULTS", results)
    monkeypatch.setattr(cli, "measure", _no_measuring)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as stop:
        cli.main(["--gpu", "--quick"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "--gpu needs CUDA" in err and "no results file was written" in err
    assert not results.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: --gpu would measure")
def test_the_real_command_without_cuda_exits_2_and_leaves_the_results_folder_as_it_was() -> None:
    before = sorted(p.name for p in (ROOT / "bench" / "results").iterdir())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--gpu"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert "--gpu needs CUDA" in done.stderr and done.stdout == ""
    assert sorted(p.name for p in (ROOT / "bench" / "results").iterdir()) == before


def test_gpu_refuses_a_figure_it_does_not_run(monkeypatch) -> None:
    monkeypatch.setattr(cli, "measure", _no_measuring)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(SystemExit, match=r"unknown ids \['P5'\] for --gpu; valid: P1, P2, P3, P7, P8, P10, P11"):
        cli.main(["--gpu", "--only", "P1,P5"])


def test_the_gpu_figures_are_figures_of_the_cpu_run() -> None:
    assert set(GPU_IDS) < set(IDS) and list(GPU_IDS) == sorted(GPU_IDS, key=IDS.index)


def test_a_gpu_run_is_named_after_its_gpu_and_a_cpu_run_after_its_host() -> None:
    gpu = {"host": "box", "gpu": "NVIDIA H200"}
    assert cli.results_name("2026-12-05", gpu, False, None, gpu=True) == "2026-12-05-nvidia-h200-gpu.json"
    assert cli.results_name("2026-12-05", gpu, True, ["P1", "P10"], gpu=True) == (
        "2026-12-05-nvidia-h200-gpu-quick-P1-P10.json"
    )
    cpu = {"host": "vm", "gpu": None}
    assert cli.results_name("2026-12-05", cpu, True, None, gpu=False) == "2026-12-05-vm-quick.json"
    assert cli.slug("NVIDIA GeForce RTX 4090 (24GB)") == "nvidia-geforce-rtx-4090-24gb"
