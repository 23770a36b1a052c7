"""The whole FAST training pipeline, one function for the CLI (`train-sae`) and the app's Train panel: harvest
(reused when the same harvest exists), train with sae-lens, measure on held-out chats, write the manifest.

`run_pipeline` is the only implementation; `train-sae` parses its flags into a `PipelineConfig`, and the app builds
one from its form. `PipelineConfig.command()` is the `train-sae` command line that remakes a run, so an SAE trained
in the browser records the command that would train it again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.fast.harvest import HarvestConfig, harvest, harvest_dir
from saif_ui.fast.manifest import build_manifest, write_manifest
from saif_ui.fast.monitor import Monitor, tick
from saif_ui.fast.report import measure_folder
from saif_ui.fast.train import TrainConfig, train_sae


@dataclass(frozen=True)
class PipelineConfig:
    """One `train-sae` run: the SAE's training config, the harvest it trains on and the report's budget.

    The two configs keep their own fields and defaults; the pipeline only ties them together (one seed, the SAE's
    layer among the harvested ones, the BT block as long as the FAST truncation), which is what `command()` can say.
    """

    train: TrainConfig
    """The SAE (its layer, architecture, size) and its optimisation."""
    harvest: HarvestConfig
    """The activations it trains on: the training split, `train.layer` among the layers, `train.seed`."""
    resume: bool = True
    """Continue from the checkpoints already in the output folder (--no-resume: start over)."""
    eval_tokens: int | None = None
    """Held-out activations the report is measured on (default: 100,000)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Recorded in the manifest as is (e.g. who asked for the run in the app)."""

    def __post_init__(self) -> None:
        h, t = self.harvest, self.train
        if t.layer not in h.layers:
            raise SaifError(f"the harvest must include the SAE's layer {t.layer}; it has {h.layers}")
        if h.seed != t.seed or h.split != "train" or h.block_len != h.max_len:
            raise SaifError("the pipeline harvests the training split with the training seed and block_len = max_len")

    @classmethod
    def of(
        cls,
        train: TrainConfig,
        *,
        harvest_tokens: int | None = None,
        harvest_layers: Iterable[int] = (),
        harvest: Mapping[str, Any] | None = None,
        **pipeline: Any,
    ) -> PipelineConfig:
        """The pipeline that trains `train` on a harvest of its layer (plus `harvest_layers`) holding `harvest_tokens`
        activations (default: as many as it trains on), with `harvest`'s other `HarvestConfig` fields; `pipeline`
        sets this class's own fields (`resume`, `eval_tokens`, `extra`).

        Example:
            >>> PipelineConfig.of(TrainConfig(layer=8, arch="topk", k=32), harvest={"method": "bt"}, eval_tokens=2000)
        """
        hcfg = HarvestConfig(
            layers=sorted(set(harvest_layers) | {train.layer}),
            tokens=harvest_tokens or train.tokens,
            seed=train.seed,
            **(harvest or {}),
        )
        return cls(train=train, harvest=replace(hcfg, block_len=hcfg.max_len), **pipeline)

    @property
    def layer(self) -> int:
        """The SAE's layer."""
        return self.train.layer

    def command(self, out: str | Path) -> str:
        """The `train-sae` command line that runs this pipeline into `out`."""
        t, h = self.train, self.harvest
        parts = [
            "python -m saif_ui train-sae",
            f"--layer {t.layer}",
            f"--method {h.method}",
            f"--arch {t.arch}",
            f"--d-sae {t.d_sae}",
            f"--tokens {t.tokens}",
            f"--harvest-tokens {h.tokens}",
        ]
        if h.layers != [t.layer]:
            parts.append("--harvest-layers " + ",".join(str(x) for x in h.layers))
        parts += [f"--max-len {h.max_len}", f"--batch-size {t.batch_size}", f"--lr {t.lr:g}"]
        parts.append({"standard": f"--l1 {t.l1_coefficient:g}", "jumprelu": f"--target-l0 {t.target_l0:g}",
                      "topk": f"--k {t.k}"}[t.arch])  # fmt: skip
        parts += [f"--seed {t.seed}", f"--checkpoint-every {t.checkpoint_every}"]
        if h.include_ifbench:
            parts.append("--ifbench")
        if self.eval_tokens:
            parts.append(f"--eval-tokens {self.eval_tokens}")
        return " ".join([*parts, f"--out {out}"])


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
