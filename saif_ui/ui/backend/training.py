"""The backend's training desk: SAEs trained in the browser (`fast.served`), one at a time per server through the
visible queue, each attached for the visitor who asked when it finishes."""

from __future__ import annotations

from pathlib import Path

from saif_ui.fast import served
from saif_ui.fast.config import PipelineConfig
from saif_ui.fast.train_log import LOG_NAME, read_curves
from saif_ui.ui.backend.base import Base
from saif_ui.ui.controls import TrainControls
from saif_ui.ui.trainings import TrainingView


class TrainingDesk(Base):
    def training_defaults(self) -> TrainControls:
        t, h = served.DEFAULTS.train, served.DEFAULTS.harvest
        return TrainControls(t.layer, h.method, t.arch, t.d_sae, float(t.k), t.tokens, t.seed)

    def training_configs(self, form: TrainControls, side_by_side: bool) -> list[PipelineConfig]:
        """The pipeline runs a Train request makes: one, or FAST and BT with the same budget (side by side)."""
        methods = ["fast", "bt"] if side_by_side else [form.method]
        return [
            served.configure(
                form.layer, m, form.arch, form.d_sae, form.sparsity, form.tokens, form.seed, self.engine.n_layers
            )
            for m in methods
        ]

    def training_estimate(self, form: TrainControls, side_by_side: bool) -> float:
        """Seconds the request should take on the 2-core machine (see `fast.served`)."""
        return sum(served.estimate_seconds(self.engine, c) for c in self.training_configs(form, side_by_side))

    def start_training(self, session: str, form: TrainControls, side_by_side: bool) -> TrainingView:
        """Queue the request (checked first); when it runs, each SAE is trained, reported and attached for
        `session`. The view says its place in the queue."""
        configs = self.training_configs(form, side_by_side)
        label = " + ".join(
            f"{c.harvest.method.upper()} L{c.layer} {c.train.arch} d_sae {c.train.d_sae}" for c in configs
        )
        folders = tuple(str(served.folder_for(self.engine, session, c)) for c in configs)
        estimate = sum(served.estimate_seconds(self.engine, c) for c in configs)
        return self.trainings.submit(
            session,
            label,
            lambda monitor: served.train_for(self.engine, self.shelf, session, configs, monitor),
            estimate_s=estimate,
            folders=folders,
        )

    def training_status(self, session: str) -> TrainingView | None:
        return self.trainings.status(session)

    def stop_training(self, session: str) -> bool:
        return self.trainings.stop(session)

    def training_live_curves(self, view: TrainingView | None) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """Folder name -> the curves its training has written so far (read while it grows)."""
        if view is None:
            return {}
        out = {}
        for folder in view.folders:
            curves = read_curves(Path(folder) / LOG_NAME)
            if curves:
                out[Path(folder).name] = curves
        return out
