"""The SAEs shipped in assets/saes: plain sae-lens loads them, files fit a Space, and their manifest's numbers hold."""

import json
from pathlib import Path

import pytest
import torch
from sae_lens import SAE

from saif_ui.engine.config import shipped_saes
from saif_ui.engine.sae import hook_to_layer
from saif_ui.fast.recipe_curve import COMPARED, CURVE_NAME, read_about
from saif_ui.fast.report import check_sample, explained_variance
from saif_ui.fast.train_log import read_curves
from tests.conftest import SHIPPED_SAE_NAMES, shipped_sae_folders

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SHIPPED = shipped_sae_folders()
SAE_FILES = ("cfg.json", "sae_weights.safetensors", "manifest.json", "report.json", "cards.npz", "umap.npz")


def test_the_shipped_saes_are_in_the_repository():
    """A clean clone has every shipped SAE with its files; a missing one fails here rather than skipping tests."""
    assert {Path(p).name for p in shipped_saes()} >= set(SHIPPED_SAE_NAMES)
    missing = [f"{Path(p).name}/{f}" for p in SHIPPED for f in SAE_FILES if not (Path(p) / f).is_file()]
    assert not missing, f"missing from assets/saes: {missing}"


def test_every_assets_file_fits_a_space_without_lfs():
    too_big = [p for p in ASSETS.rglob("*") if p.is_file() and p.stat().st_size >= 10 * 1024 * 1024]
    assert not too_big


def test_at_least_three_depths_one_in_the_last_quarter():
    layers = sorted(hook_to_layer(SAE.load_from_disk(p).cfg.metadata.hook_name) for p in SHIPPED)
    assert len(set(layers)) >= 3 and layers[-1] >= 30 * 3 // 4


@pytest.mark.parametrize("folder", SHIPPED, ids=[Path(p).name for p in SHIPPED])
def test_shipped_sae_reproduces_its_manifest(folder, engine, tmp_path_factory):
    sae = SAE.load_from_disk(folder)  # plain sae-lens, as a user would
    assert sae.cfg.d_in == 576 and sae.W_dec.dtype == torch.float16
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    for key in ("command", "git_commit", "data", "harvest", "train", "report"):
        assert key in manifest
    layer = hook_to_layer(sae.cfg.metadata.hook_name)
    assert manifest["layer"] == layer and manifest["train"]["seed"] == manifest["harvest"]["config"]["seed"]
    sample = check_sample(engine, [layer], tmp_path_factory.mktemp("check"))
    ev = explained_variance(SAE.load_from_disk(folder, dtype="float32"), sample, layer)
    recorded = manifest["report"]["check_sample"]["explained_variance"]
    assert ev == pytest.approx(recorded, abs=2e-3)
    assert ev == pytest.approx(manifest["report"]["explained_variance"], abs=0.1)  # the small sample is representative


@pytest.mark.parametrize("folder", SHIPPED, ids=[Path(p).name for p in SHIPPED])
def test_shipped_sae_has_its_recipes_curve(folder):
    """Each shipped SAE carries the curve of a re-run of its recipe: the same number of steps as the shipped training,
    the shipped side of its table copied from the manifest, and a re-run whose quality is close to the shipped one's
    (the re-run is not bit-identical across CPUs, so close, not equal)."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    about = read_about(folder)
    assert about is not None, f"{folder.name} has no recipe_curve.json: run `python -m saif_ui recipe-curve {folder}`"
    assert about["steps"] == manifest["train"]["steps"]
    assert about["quality"]["shipped"] == {k: manifest["report"].get(k) for k in COMPARED}
    shipped, rerun = about["quality"]["shipped"], about["quality"]["rerun"]
    assert rerun["explained_variance"] == pytest.approx(shipped["explained_variance"], abs=0.02)
    assert rerun["l0"] == pytest.approx(shipped["l0"], rel=0.1)
    curves = read_curves(folder / CURVE_NAME)
    steps = [s for s, _ in curves["loss"]]
    assert steps == sorted(steps) and 0 < steps[-1] <= manifest["train"]["steps"]
    assert {"loss", "mse", "l0", "explained_variance", "dead"} <= curves.keys()
    assert curves["loss"][-1][1] < curves["loss"][0][1]  # a training curve goes down
