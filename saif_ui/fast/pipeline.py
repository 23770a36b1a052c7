"""The whole FAST training pipeline, one function for the CLI (`train-sae`) and the app's Train panel: harvest
(reused when the same harvest exists), train with sae-lens, measure on held-out chats, write the manifest.

`run_pipeline` is the only implementation; `train-sae` parses its flags into a `PipelineConfig` (`fast.config`), and
the app builds one from its form. `PipelineConfig.command()` is the `train-sae` command line that remakes a run, so
an SAE trained in the browser records the command that would train it again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.fast.config import PipelineConfig
from saif_ui.fast.harvest import harvest, harvest_dir
from saif_ui.fast.manifest import build_manifest, write_manifest
from saif_ui.fast.monitor import Monitor, tick
from saif_ui.fast.report import measure_folder
from saif_ui.fast.train import train_sae


def check_config(cfg: PipelineConfig, n_layers: int) -> None:
    """Refuse a config the pipeline cannot run on a model of `n_layers`, before anything is harvested (the harvest
    and training configs checked their own fields when they were built)."""
    t = cfg.train
    if not 0 <= t.layer < n_layers:
        raise SaifError(f"layer must be in 0..{n_layers - 1}, not {t.layer}")
    if any(not 0 <= x < n_layers for x in cfg.harvest.layers):
        raise SaifError(f"harvest layers must be in 0..{n_layers - 1}")
    if t.arch == "topk" and not 1 <= t.k <= t.d_sae:
        raise SaifError(f"k must be in 1..d_sae ({t.d_sae}), not {t.k}")


def run_pipeline(
    engine: Engine,
    cfg: PipelineConfig,
    out: str | Path,
    *,
    commit: str,
    command: str | None = None,
    progress: bool = True,
    monitor: Monitor | None = None,
) -> dict[str, Any]:
    """Harvest, train, report and write the manifest into `out`; returns the manifest (its `report` included).

    `commit` is the code that ran (taken by the caller when it starts: a long run may outlive edits); `command`
    defaults to the process's own command line. `monitor` follows every phase and can stop the run (`Stopped`):
    the harvest is then discarded, the training keeps its checkpoints (a rerun resumes them).
    """
    check_config(cfg, engine.n_layers)
    out = Path(out)
    hcfg = cfg.harvest
    train_h = harvest(
        engine,
        hcfg,
        harvest_dir(engine.config.cache_dir, hcfg, engine.loaded.model_id),
        progress=progress,
        monitor=monitor,
    )
    train_sae(
        train_h,
        cfg.train,
        out,
        resume=cfg.resume,
        progress=progress,
        metadata={"saif_ui_method": hcfg.method, "saif_ui_harvest": train_h.path.name},
        monitor=monitor,
    )
    tick(monitor, "report", 0, 1)
    started = time.perf_counter()
    report = measure_folder(engine, out, cfg.layer, cfg.eval_tokens, hcfg.max_len)
    report_s = time.perf_counter() - started
    manifest = build_manifest(engine, out, cfg.layer, hcfg.method, train_h, hcfg.include_ifbench, report, commit)
    if command:
        manifest["command"] = command
    manifest["report_seconds"] = round(report_s, 1)
    if cfg.extra:
        manifest["requested"] = dict(cfg.extra)
    write_manifest(manifest, out)
    tick(monitor, "report", 1, 1)
    return manifest
