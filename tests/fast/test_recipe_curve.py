"""A curve for an SAE trained before curves were recorded: its recipe is read from the manifest's settings, re-run on
the real model with a tiny budget, and the re-run's curve and quality land beside the SAE while its weights stay."""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from saif_ui.engine.cache import ResultCache
from saif_ui.engine.config import shipped_saes
from saif_ui.engine.errors import SaifError
from saif_ui.fast.config import PipelineConfig, TrainConfig
from saif_ui.fast.pipeline import run_pipeline
from saif_ui.fast.recipe_curve import (
    ABOUT_NAME,
    COMPARED,
    CURVE_NAME,
    pipeline_config_of,
    record_recipe_curve,
    weight_difference,
)
from saif_ui.fast.train_log import LOG_NAME
from saif_ui.service.shelf import SaeShelf

TINY = PipelineConfig.of(
    TrainConfig(layer=2, arch="topk", d_sae=64, k=8, tokens=4096, batch_size=512, lr=3e-3, checkpoint_every=2),
    harvest_tokens=2048, harvest={"max_len": 128}, eval_tokens=2000,
)  # fmt: skip


def _flags(command: str) -> dict[str, str]:
    args = shlex.split(command)
    return dict(zip(args[4::2], args[5::2], strict=True))


@pytest.mark.parametrize("folder", shipped_saes(), ids=lambda p: Path(p).name)
def test_the_config_read_from_a_shipped_manifest_is_the_command_that_trained_it(folder) -> None:
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    cfg = pipeline_config_of(manifest)
    recorded, rebuilt = _flags(manifest["command"]), _flags(cfg.command("OUT"))
    # Every flag the original command set is set to the same value (3e-3 and 0.003 are the same).
    for flag, value in recorded.items():
        if flag not in ("--out", "--harvest-layers"):
            same = rebuilt[flag] == value or float(rebuilt[flag]) == float(value)
            assert same, (flag, rebuilt[flag], value)
    layers = {int(x) for x in recorded.get("--harvest-layers", "").split(",") if x} | {cfg.layer}
    assert set(cfg.harvest.layers) == layers
    assert not cfg.resume  # a re-run starts from scratch, never from a stale checkpoint
    more = pipeline_config_of(manifest, harvest_layers=(27, 8))
    assert set(more.harvest.layers) == set(cfg.harvest.layers) | {8, 27}
    assert more.harvest.layers == sorted(set(cfg.harvest.layers) | {8, 27})


def test_a_manifest_without_its_settings_is_refused_by_name() -> None:
    with pytest.raises(SaifError, match="'train'"):
        pipeline_config_of({"harvest": {"config": {}}})


def test_the_rerun_curve_lands_beside_the_sae_and_its_weights_stay(engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(engine.config, "cache_dir", tmp_path / "cache")
    shipped = tmp_path / "old_sae"
    run_pipeline(engine, TINY, shipped, commit="abc", command=TINY.command(shipped), progress=False)
    (shipped / LOG_NAME).unlink()  # trained "before curves were recorded"
    weights = hashlib.sha256((shipped / "sae_weights.safetensors").read_bytes()).hexdigest()

    about = record_recipe_curve(engine, shipped, tmp_path / "work", commit="def", command="python -m saif_ui x")

    assert hashlib.sha256((shipped / "sae_weights.safetensors").read_bytes()).hexdigest() == weights
    assert not (shipped / LOG_NAME).exists()  # the shipped SAE still has no curve of its own
    steps = [json.loads(line)["step"] for line in (shipped / CURVE_NAME).read_text().splitlines()]
    assert steps == list(range(1, 9)) and about["steps"] == 8
    assert json.loads((shipped / ABOUT_NAME).read_text()) == about
    assert set(about["quality"]["shipped"]) == set(COMPARED) == set(about["quality"]["rerun"])
    assert 0 < about["quality"]["rerun"]["explained_variance"] <= 1
    assert about["git_commit"] == "def" and about["original_git_commit"] == "abc"
    assert "W_dec" in about["max_abs_weight_difference"]
    assert about["weights_identical"] == all(v == 0 for v in about["max_abs_weight_difference"].values())

    name = engine.add_sae(str(shipped)).name
    try:
        shelf = SaeShelf(engine, ResultCache(2**20))
        own, rerun = shelf.training_curves(name), shelf.recipe_curve(name)
    finally:
        engine.remove_sae(name)
    assert own == {}  # the SAE's own curve stays absent: the re-run's is offered apart, saying what it is
    assert rerun is not None and [s for s, _ in rerun[0]["mse"]] == [float(s) for s in range(1, 9)]
    assert rerun[1]["what"].startswith("training curve of a re-run")


def test_weight_difference_is_zero_for_the_same_file_and_names_what_differs(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, shift in ((a, 0.0), (b, 0.25)):
        folder.mkdir()
        tensors = {"W_dec": torch.ones(4, 3), "b_dec": torch.zeros(3) + shift, "W_enc": torch.ones(2)}
        if folder == b:
            tensors["W_enc"] = torch.ones(5)  # another shape: not comparable, left out
        save_file(tensors, str(folder / "sae_weights.safetensors"))
    assert weight_difference(a, a) == {"W_dec": 0.0, "W_enc": 0.0, "b_dec": 0.0}
    assert weight_difference(a, b) == {"W_dec": 0.0, "b_dec": 0.25}


def test_a_folder_without_a_manifest_is_refused(engine, tmp_path) -> None:
    with pytest.raises(SaifError, match=r"no manifest\.json"):
        record_recipe_curve(engine, tmp_path, tmp_path / "work", commit="x", command="x")


def test_a_work_folder_holding_other_files_is_refused_and_kept(engine, tmp_path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    folder = Path(shipped_saes()[0])
    with pytest.raises(SaifError, match="not an SAE training"):
        record_recipe_curve(engine, folder, work, commit="x", command="x")
    assert (work / "notes.txt").read_text() == "mine"
