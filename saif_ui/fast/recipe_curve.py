"""A training curve for an SAE trained before curves were recorded: run its recipe again and keep, beside the SAE,
the re-run's curve and quality, never its weights.

Re-running a recipe does not give the same weights on another machine (BLAS kernels and thread order change the
sums), and replacing a shipped SAE would change every latent id that the recipes and studies cite. So the shipped
weights stay, and the re-run's `train_log.jsonl` ships as `recipe_curve.jsonl` with `recipe_curve.json` saying what
it is: the command, the commit, both quality reports side by side and how far the re-run's weights are from the
shipped ones. The SAEs tab plots it under a title that says it is a re-run's curve (`SaeShelf.recipe_curve`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from safetensors.torch import load_file

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.fast.config import HarvestConfig, PipelineConfig, TrainConfig
from saif_ui.fast.pipeline import run_pipeline
from saif_ui.fast.train_log import LOG_NAME

CURVE_NAME = "recipe_curve.jsonl"
ABOUT_NAME = "recipe_curve.json"
COMPARED = ("mse", "mse_st", "log2_mse", "log2_mse_st", "explained_variance", "l0", "dead_fraction", "delta_ce")
"""The report fields shown side by side for the shipped SAE and its re-run."""
WEIGHTS = "sae_weights.safetensors"


def pipeline_config_of(manifest: dict[str, Any], harvest_layers: tuple[int, ...] = ()) -> PipelineConfig:
    """The pipeline config that made an SAE, read from its manifest's recorded settings (not from the command
    string). `harvest_layers` adds layers to store in the same harvest pass, so one harvest serves several re-runs;
    it does not change the SAE's own layer's activations."""
    try:
        h, t = manifest["harvest"]["config"], manifest["train"]
        train = TrainConfig(**{k: t[k] for k in TrainConfig.__dataclass_fields__})
        harvest = HarvestConfig(**{k: h[k] for k in HarvestConfig.__dataclass_fields__})
        harvest.layers = sorted(set(harvest.layers) | set(harvest_layers))
        eval_tokens = int(manifest["report"]["n_tokens"])
        return PipelineConfig(train=train, harvest=harvest, resume=False, eval_tokens=eval_tokens)
    except KeyError as e:
        missing = e.args[0]
        raise SaifError(f"the manifest does not record {missing!r}, so its recipe cannot be re-run") from None


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest `train-sae` wrote into an SAE folder; refused when there is none (its recipe is unknown)."""
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise SaifError(f"{folder} has no manifest.json, so its recipe is unknown")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def weight_difference(a: Path, b: Path) -> dict[str, float]:
    """Largest absolute difference of each tensor the two SAE weight files share (0.0 everywhere: bit-identical)."""
    wa, wb = load_file(str(a / WEIGHTS)), load_file(str(b / WEIGHTS))
    return {
        name: float((wa[name].float() - wb[name].float()).abs().max())
        for name in sorted(wa.keys() & wb.keys())
        if wa[name].shape == wb[name].shape
    }


def record_recipe_curve(
    engine: Engine,
    folder: str | Path,
    work: str | Path,
    *,
    commit: str,
    command: str,
    harvest_layers: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Re-run the recipe of the SAE in `folder` into `work`, copy the re-run's curve into `folder` as `CURVE_NAME`
    and write `ABOUT_NAME` beside it; returns what `ABOUT_NAME` holds. `folder`'s weights are not touched."""
    folder, work = Path(folder), Path(work)
    manifest = read_manifest(folder)
    cfg = pipeline_config_of(manifest, harvest_layers)
    if work.exists() and any(work.iterdir()):
        if not (work / "cfg.json").is_file() and not (work / "checkpoints").is_dir():
            raise SaifError(f"{work} holds files that are not an SAE training; choose an empty or new folder")
        shutil.rmtree(work)  # an older re-run: a fresh curve, not one resumed from its checkpoints
    started = time.perf_counter()
    rerun = run_pipeline(engine, cfg, work, commit=commit, command=cfg.command(work))
    seconds = time.perf_counter() - started
    if not (work / LOG_NAME).is_file():
        raise SaifError(f"the re-run wrote no {LOG_NAME}")
    shutil.copyfile(work / LOG_NAME, folder / CURVE_NAME)
    diff = weight_difference(folder, work)
    about = {
        "what": (
            "training curve of a re-run of this SAE's recipe (same data, settings and seed); the shipped weights "
            "are from the original run, which recorded no curve"
        ),
        "command": command,
        "rerun_command": cfg.command(work),
        "git_commit": commit,
        "original_git_commit": manifest.get("git_commit"),
        "seconds": round(seconds, 1),
        "steps": rerun.get("train", {}).get("steps"),
        "quality": {
            "shipped": {k: manifest["report"].get(k) for k in COMPARED},
            "rerun": {k: rerun["report"].get(k) for k in COMPARED},
        },
        "weights_identical": all(v == 0.0 for v in diff.values()),
        "max_abs_weight_difference": {k: round(v, 6) for k, v in diff.items()},
    }
    (folder / ABOUT_NAME).write_text(json.dumps(about, indent=1) + "\n", encoding="utf-8")
    return about


def read_about(folder: Path) -> dict[str, Any] | None:
    """What `record_recipe_curve` wrote beside an SAE, when it did."""
    path = folder / ABOUT_NAME
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None
