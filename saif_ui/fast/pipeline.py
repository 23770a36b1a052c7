"""The whole FAST training pipeline, one function for the CLI (`train-sae`) and the app's Train panel: harvest
(reused when the same harvest exists), train with sae-lens, measure on held-out chats, write the manifest.

`run_pipeline` is the only implementation; `train-sae` parses its flags into a `PipelineConfig`, and the app builds
one from its form. `PipelineConfig.command()` is the `train-sae` command line that remakes a run, so an SAE trained
in the browser records the command that would train it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.fast.harvest import HarvestConfig, harvest, harvest_dir
from saif_ui.fast.manifest import build_manifest, write_manifest
from saif_ui.fast.monitor import Monitor, tick
from saif_ui.fast.report import measure_folder
from saif_ui.fast.train import Arch, TrainConfig, train_sae


@dataclass(frozen=True)
class PipelineConfig:
    """Everything `train-sae` takes, with its defaults (the flags' names in brackets)."""

    layer: int
    method: Literal["fast", "bt"] = "fast"
    arch: Arch = "jumprelu"
    d_sae: int = 4096
    tokens: int = 2_000_000
    """Training samples (activations) [--tokens]."""
    harvest_tokens: int | None = None
    """Activations to harvest (None: `tokens`); fewer means several epochs [--harvest-tokens]."""
    harvest_layers: tuple[int, ...] = ()
    """Other layers harvested in the same pass [--harvest-layers]."""
    max_len: int = 1024
    ifbench: bool = False
    batch_size: int = 4096
    lr: float = 4e-4
    l1: float = 5.0
    target_l0: float = 48.0
    k: int = 48
    seed: int = 0
    checkpoint_every: int = 100
    resume: bool = True
    eval_tokens: int | None = None
    """Held-out activations the report is measured on (None: `report.EVAL_TOKENS`)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Recorded in the manifest as is (e.g. who asked for the run in the app)."""

    def harvest_config(self) -> HarvestConfig:
        return HarvestConfig(
            layers=sorted(set(self.harvest_layers) | {self.layer}),
            method=self.method,
            tokens=self.harvest_tokens or self.tokens,
            max_len=self.max_len,
            block_len=self.max_len,
            seed=self.seed,
            include_ifbench=self.ifbench,
        )

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            layer=self.layer,
            arch=self.arch,
            d_sae=self.d_sae,
            tokens=self.tokens,
            batch_size=self.batch_size,
            lr=self.lr,
            l1_coefficient=self.l1,
            target_l0=self.target_l0,
            k=self.k,
            checkpoint_every=self.checkpoint_every,
            seed=self.seed,
        )

    def command(self, out: str | Path) -> str:
        """The `train-sae` command line that runs this pipeline into `out`."""
        parts = [
            "python -m saif_ui train-sae",
            f"--layer {self.layer}",
            f"--method {self.method}",
            f"--arch {self.arch}",
            f"--d-sae {self.d_sae}",
            f"--tokens {self.tokens}",
        ]
        if self.harvest_tokens:
            parts.append(f"--harvest-tokens {self.harvest_tokens}")
        if self.harvest_layers:
            parts.append("--harvest-layers " + ",".join(str(x) for x in sorted(self.harvest_layers)))
        parts += [f"--max-len {self.max_len}", f"--batch-size {self.batch_size}", f"--lr {self.lr:g}"]
        parts.append({"standard": f"--l1 {self.l1:g}", "jumprelu": f"--target-l0 {self.target_l0:g}",
                      "topk": f"--k {self.k}"}[self.arch])  # fmt: skip
        parts += [f"--seed {self.seed}", f"--checkpoint-every {self.checkpoint_every}"]
        if self.ifbench:
            parts.append("--ifbench")
        if self.eval_tokens:
            parts.append(f"--eval-tokens {self.eval_tokens}")
        return " ".join([*parts, f"--out {out}"])


def check_config(cfg: PipelineConfig, n_layers: int) -> None:
    """Refuse a config the pipeline cannot run, before anything is harvested (building the harvest and training
    configs checks their own fields)."""
    if not 0 <= cfg.layer < n_layers:
        raise SaifError(f"layer must be in 0..{n_layers - 1}, not {cfg.layer}")
    if any(not 0 <= x < n_layers for x in cfg.harvest_layers):
        raise SaifError(f"harvest layers must be in 0..{n_layers - 1}")
    if cfg.arch == "topk" and not 1 <= cfg.k <= cfg.d_sae:
        raise SaifError(f"k must be in 1..d_sae ({cfg.d_sae}), not {cfg.k}")
    cfg.harvest_config()
    cfg.train_config()


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
    hcfg = cfg.harvest_config()
    train_h = harvest(
        engine,
        hcfg,
        harvest_dir(engine.config.cache_dir, hcfg, engine.loaded.model_id),
        progress=progress,
        monitor=monitor,
    )
    train_sae(
        train_h,
        cfg.train_config(),
        out,
        resume=cfg.resume,
        progress=progress,
        metadata={"saif_ui_method": cfg.method, "saif_ui_harvest": train_h.path.name},
        monitor=monitor,
    )
    tick(monitor, "report", 0, 1)
    started = time.perf_counter()
    report = measure_folder(engine, out, cfg.layer, cfg.eval_tokens, cfg.max_len)
    report_s = time.perf_counter() - started
    manifest = build_manifest(engine, out, cfg.layer, cfg.method, train_h, cfg.ifbench, report, commit)
    if command:
        manifest["command"] = command
    manifest["report_seconds"] = round(report_s, 1)
    if cfg.extra:
        manifest["requested"] = dict(cfg.extra)
    write_manifest(manifest, out)
    tick(monitor, "report", 1, 1)
    return manifest
