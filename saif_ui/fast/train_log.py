"""The curve every SAE training records in the SAE's folder (`train_log.jsonl`, what the SAEs tab plots): loss,
MSE, L0, explained variance, dead latents and learning rate every few steps, taken from sae-lens's own per-step
metrics (`build_train_step_log_dict`), so the curve is the trainer's, not a re-computation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sae_lens.training.sae_trainer import SAETrainer

from saif_ui.fast.monitor import Monitor, tick

LOG_NAME = "train_log.jsonl"
FIELDS = {
    "loss": "losses/overall_loss",
    "mse": "losses/mse_loss",
    "l0": "metrics/l0",
    "explained_variance": "metrics/explained_variance",
    "dead": "sparsity/dead_features",
    "lr": "details/current_learning_rate",
}
"""Column of the log -> key of sae-lens's step log dict."""


def keep_until(path: Path, step: int) -> None:
    """Keep the lines of the first `step` steps (a resumed run redoes the rest; 0: a fresh curve). A line's `step`
    counts the steps done when it was written (1 after the first)."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line).get("step", step + 1) <= step]
    path.write_text("".join(f"{line}\n" for line in kept))


class RecordingTrainer(SAETrainer):
    """sae-lens's trainer, appending one line to `log_path` every `log_every` steps (wandb stays off). sae-lens calls
    `_update_pbar` after counting the step, so a line's `step` is the number of steps done."""

    def __init__(
        self, *args: Any, log_path: Path, log_every: int, monitor: Monitor | None = None, total_steps: int = 0,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.log_path = log_path
        self.log_every = max(1, log_every)
        self.monitor = monitor
        self.total_steps = total_steps

    def _update_pbar(self, step_output: Any, pbar: Any, update_interval: int = 100) -> None:
        if self.n_training_steps % self.log_every == 0:
            logged = self.build_train_step_log_dict(step_output, self.n_training_samples)
            row = {"step": self.n_training_steps} | {
                k: float(logged[key]) for k, key in FIELDS.items() if key in logged
            }
            with self.log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
        super()._update_pbar(step_output, pbar, update_interval)
        # After the step is logged: a stop leaves the curve up to here and the last checkpoint to resume from.
        tick(self.monitor, "train", self.n_training_steps, self.total_steps)


def read_curves(path: Path) -> dict[str, list[tuple[float, float]]]:
    """Metric -> (step, value) points of a `train_log.jsonl` (none when absent). A line cut short by a training
    that is writing right now is skipped, so a curve can be read while it grows."""
    if not path.is_file():
        return {}
    curves: dict[str, list[tuple[float, float]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        step = record.get("step")
        for k, v in record.items():
            if k != "step" and isinstance(v, int | float) and isinstance(step, int | float):
                curves.setdefault(k, []).append((float(step), float(v)))
    return curves
