"""Train an SAE on harvested activations with sae-lens's SAETrainer: seeded, checkpointed, resumable, wandb off."""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from saif_ui.engine.errors import SaifError
from saif_ui.fast.config import TrainConfig
from saif_ui.fast.harvest import Harvest
from saif_ui.fast.monitor import Monitor, tick

if TYPE_CHECKING:
    from sae_lens.saes.sae import TrainingSAE

log = logging.getLogger(__name__)


def _device(name: str) -> str:
    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


class ActivationBatches(Iterator[torch.Tensor]):
    """Shuffled fp32 batches of one harvested layer, as an endless iterator (sae-lens's DataProvider).

    The whole layer is held in RAM (fp16) and each epoch draws a fresh permutation of every token, which mixes tokens
    across conversations completely (an ideal version of FAST's fill-shuffle-half buffer). The order depends only on
    the seed, so `skip` batches reproduce a resumed run exactly.
    """

    def __init__(self, harvest: Harvest, layer: int, batch_size: int, seed: int, skip: int = 0, device: str = "cpu"):
        self.acts = torch.from_numpy(np.array(harvest.activations(layer)))  # a writable copy in RAM
        self.n = self.acts.shape[0]
        if self.n < batch_size:
            raise SaifError(f"the harvest holds {self.n} activations, fewer than one batch of {batch_size}")
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.per_epoch = self.n // batch_size
        self.index = skip
        self._epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def __next__(self) -> torch.Tensor:
        epoch, b = divmod(self.index, self.per_epoch)
        if epoch != self._epoch:
            self._perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
            self._epoch = epoch
        self.index += 1
        idx = self._perm[b * self.batch_size : (b + 1) * self.batch_size]
        return self.acts[idx].to(device=self.device, dtype=torch.float32)


def geometric_median(x: torch.Tensor, iterations: int = 30, eps: float = 1e-6) -> torch.Tensor:
    """Weiszfeld's algorithm: the point minimising the summed distances to the rows of `x` (robust to outliers)."""
    median = x.mean(0)
    for _ in range(iterations):
        weights = 1.0 / (x - median).norm(dim=1).clamp(min=eps)
        median = (weights[:, None] * x).sum(0) / weights.sum()
    return median


def scaling_sample(harvest: Harvest, layer: int, n: int = 20_000, seed: int = 0) -> torch.Tensor:
    """A fixed random sample of one layer's activations (fp32), for the norm scale and b_dec's initial value."""
    acts = harvest.activations(layer)
    idx = np.sort(np.random.default_rng(seed).choice(acts.shape[0], size=min(n, acts.shape[0]), replace=False))
    return torch.from_numpy(np.asarray(acts[idx], dtype=np.float32))


def build_training_sae(cfg: TrainConfig, d_in: int, metadata: dict[str, Any]) -> TrainingSAE:
    """A fresh sae-lens training SAE for `cfg`; inputs are normalised to unit average norm
    (`expected_average_only_in`, folded back into the weights at the end) so coefficients transfer across layers."""
    from sae_lens import (
        JumpReLUTrainingSAE,
        JumpReLUTrainingSAEConfig,
        StandardTrainingSAE,
        StandardTrainingSAEConfig,
        TopKTrainingSAE,
        TopKTrainingSAEConfig,
    )
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(cfg.seed)
    warm = int(cfg.steps * cfg.sparsity_warmup_fraction)
    common = dict(
        d_in=d_in,
        d_sae=cfg.d_sae,
        device=_device(cfg.device),
        normalize_activations="expected_average_only_in",
        metadata=SAEMetadata(**metadata),
    )
    if cfg.arch == "standard":
        return StandardTrainingSAE(
            StandardTrainingSAEConfig(**common, l1_coefficient=cfg.l1_coefficient, l1_warm_up_steps=warm)
        )
    if cfg.arch == "jumprelu":
        return JumpReLUTrainingSAE(
            JumpReLUTrainingSAEConfig(
                **common,
                jumprelu_sparsity_loss_mode="quadratic",
                target_l0=cfg.target_l0,
                l0_coefficient=cfg.l0_coefficient,
                l0_warm_up_steps=warm,
            )
        )
    return TopKTrainingSAE(TopKTrainingSAEConfig(**common, k=cfg.k))


def init_training_sae(harvest: Harvest, cfg: TrainConfig, metadata: dict[str, Any]) -> tuple[TrainingSAE, float]:
    """A fresh training SAE and the input scale it trains under (sae-lens's `expected_average_only_in`: inputs
    scaled to an average norm of sqrt(d_in)). We compute the scale ourselves so the trainer does not consume data
    batches to estimate it (that would shift a resumed run's data). b_dec starts at the geometric median of the
    scaled inputs, as in FAST: residuals share a large offset that Adam would take thousands of steps to learn."""
    sample = scaling_sample(harvest, cfg.layer, seed=cfg.seed)
    scale = float(sample.shape[1] ** 0.5 / sample.norm(dim=1).mean())
    sae = build_training_sae(cfg, sample.shape[1], metadata)
    with torch.no_grad():
        sae.b_dec.copy_((geometric_median(sample) * scale).to(sae.b_dec))
    return sae, scale


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint with the most samples under `folder/checkpoints`, if any finished writing."""
    root = folder / "checkpoints"
    done = [p for p in root.glob("*") if p.is_dir() and re.fullmatch(r"\d+", p.name) and (p / "cfg.json").is_file()]
    return max(done, key=lambda p: int(p.name), default=None)


def train_sae(
    harvest: Harvest,
    cfg: TrainConfig,
    out: str | Path,
    *,
    resume: bool = True,
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
    monitor: Monitor | None = None,
) -> Path:
    """Train on `harvest`'s layer `cfg.layer` and save an inference SAE (fp16, sae-lens format) into `out`.

    Checkpoints go to `out/checkpoints/<samples>` every `cfg.checkpoint_every` steps; with `resume`, a run restarts
    from the latest one and sees exactly the batches it would have seen. `monitor` is told every step; a stop
    request raises `Stopped` after the current step (the checkpoints stay, so resuming continues the run).
    Returns `out`.
    """
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.saes.sae import TrainingSAE

    from saif_ui.fast.train_log import LOG_NAME, RecordingTrainer, keep_until

    tick(monitor, "train", 0, cfg.steps)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if resume and _finished(out, cfg):
        log.info("%s already holds an SAE trained with this config", out)
        return out
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    device = _device(cfg.device)
    meta = {
        "hook_name": f"blocks.{cfg.layer}.hook_resid_post",
        "hook_head_index": None,
        "model_name": harvest.meta["model"],
        **(metadata or {}),
    }
    ckpt = latest_checkpoint(out) if resume else None
    sae, scale = init_training_sae(harvest, cfg, meta)
    if ckpt is not None:
        sae = TrainingSAE.load_from_disk(ckpt, device=device)  # its scale comes back with the trainer state
    steps = cfg.steps
    n_ckpt = max(0, math.ceil(steps / cfg.checkpoint_every) - 1) if cfg.checkpoint_every else 0
    trainer_cfg = SAETrainerConfig(
        total_training_samples=steps * cfg.batch_size,
        train_batch_size_samples=cfg.batch_size,
        lr=cfg.lr,
        lr_end=cfg.lr / 10,
        lr_scheduler_name="cosineannealing",
        lr_warm_up_steps=int(steps * cfg.warmup_fraction),
        # sae-lens's decay_steps is an extra linear decay to 0 at the end, not the cosine's length: 0 lets the cosine
        # run from the peak to lr_end over every step after the warm-up.
        lr_decay_steps=0,
        device=device,
        dead_feature_window=max(steps // 4, 1),
        feature_sampling_window=max(steps // 4, 1),
        n_checkpoints=n_ckpt,
        checkpoint_path=str(out / "checkpoints"),
        logger=LoggingConfig(log_to_wandb=False),
        n_batches_for_norm_estimate=min(100, steps),
    )
    skip = 0
    data = ActivationBatches(harvest, cfg.layer, cfg.batch_size, cfg.seed, device=device)
    log_path = out / LOG_NAME
    trainer = RecordingTrainer(
        cfg=trainer_cfg,
        sae=sae,
        data_provider=data,
        log_path=log_path,
        log_every=max(1, steps // 200),
        monitor=monitor,
        total_steps=steps,
    )
    if ckpt is None:
        trainer.activation_scaler.scaling_factor = scale  # set, so fit() does not estimate it from data batches
    else:
        trainer.load_trainer_state(ckpt)
        # sae-lens saves a checkpoint after a step's samples are counted but before its step counter moves on, so
        # the batches consumed are samples / batch size (one more than n_training_steps).
        skip = trainer.n_training_samples // cfg.batch_size
        trainer.n_training_steps = skip
        # Thresholds already passed must not checkpoint again.
        trainer.checkpoint_thresholds = [t for t in trainer.checkpoint_thresholds if t > trainer.n_training_samples]
        log.info("resuming %s from step %d", out, skip)
    keep_until(log_path, skip)  # a fresh run starts a fresh curve; a resumed one keeps the steps before it
    data.index = skip
    start = time.perf_counter()
    torch.manual_seed(cfg.seed + skip)
    if not progress:
        import os

        os.environ["TQDM_DISABLE"] = "1"
    trained = trainer.fit()
    seconds = time.perf_counter() - start
    _export_fp16(trained, out)
    history = {
        "steps": steps,
        "resumed_from_step": skip,
        "seconds": round(seconds, 1),
        "steps_per_second": round((steps - skip) / seconds, 3) if seconds else None,
        "samples_per_second": round((steps - skip) * cfg.batch_size / seconds, 1) if seconds else None,
    }
    (out / "train_stats.json").write_text(json.dumps(history, indent=2))
    return out


def _finished(out: Path, cfg: TrainConfig) -> bool:
    """True when `out` holds the exported SAE of a completed run with exactly this config (re-running the command
    then only redoes what follows training)."""
    files = [out / n for n in ("train_config.json", "train_stats.json", "cfg.json", "sae_weights.safetensors")]
    return all(f.is_file() for f in files) and json.loads(files[0].read_text()) == asdict(cfg)


def _export_fp16(sae: TrainingSAE, out: Path) -> None:
    """Save the inference SAE in fp16 (a 4,096-latent SAE of a 576-wide model is then ~9.4 MB, under the 10 MB a
    Hugging Face Space accepts without LFS). Written to a temp folder first, then moved over the final files."""
    from sae_lens import SAE

    tmp = out / ".export"
    if tmp.exists():
        shutil.rmtree(tmp)
    sae.save_inference_model(tmp / "fp32")
    inference = SAE.load_from_disk(tmp / "fp32", device="cpu").to(torch.float16)
    inference.cfg.dtype = "float16"
    inference.cfg.device = "cpu"
    inference.save_model(tmp / "fp16")
    for name in ("cfg.json", "sae_weights.safetensors"):
        shutil.move(str(tmp / "fp16" / name), out / name)
    shutil.rmtree(tmp)
