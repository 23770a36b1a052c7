"""The backend's training part: SAEs trained in the browser (`service.served`), one at a time per server through the
visible queue, each attached for the visitor who asked when it finishes."""

from __future__ import annotations

from pathlib import Path

from saif_ui.fast.config import PipelineConfig
from saif_ui.fast.train_log import LOG_NAME, read_curves
from saif_ui.service import served
from saif_ui.service.context import Context
from saif_ui.service.controls import TrainControls
from saif_ui.service.trainings import TrainingView


class Training:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.engine = context.engine

    def defaults(self) -> TrainControls:
        """The Train panel's starting form: the served defaults, the layer within the model's depth (a model of 8
        layers or fewer cannot take the embedded model's layer 8)."""
        t, h = served.DEFAULTS.train, served.DEFAULTS.harvest
        layer = min(t.layer, self.engine.n_layers - 1)
        return TrainControls(layer, h.method, t.arch, t.d_sae, float(t.k), t.tokens, t.seed)

    def configs(self, form: TrainControls, side_by_side: bool) -> list[PipelineConfig]:
        """The pipeline runs a Train request makes: one, or FAST and BT with the same budget (side by side)."""
        methods = ["fast", "bt"] if side_by_side else [form.method]
        return [
            served.configure(
                form.layer, m, form.arch, form.d_sae, form.sparsity, form.tokens, form.seed, self.engine.n_layers
            )
            for m in methods
        ]

    def estimate(self, form: TrainControls, side_by_side: bool) -> float:
        """Seconds the request should take on the 2-core machine (see `service.served`)."""
        return sum(served.estimate_seconds(self.engine, c) for c in self.configs(form, side_by_side))

    def start(self, session: str, form: TrainControls, side_by_side: bool) -> TrainingView:
        """Queue the request (checked first); when it runs, each SAE is trained, reported and attached for
        `session`. The view says its place in the queue."""
        configs = self.configs(form, side_by_side)
        label = " + ".join(
            f"{c.harvest.method.upper()} L{c.layer} {c.train.arch} d_sae {c.train.d_sae}" for c in configs
        )
        folders = tuple(str(served.folder_for(self.engine, session, c)) for c in configs)
        estimate = sum(served.estimate_seconds(self.engine, c) for c in configs)
        shelf = self.context.shelf
        return self.context.trainings.submit(
            session,
            label,
            lambda monitor: served.train_for(self.engine, shelf, session, configs, monitor),
            estimate_s=estimate,
            folders=folders,
        )

    def status(self, session: str) -> TrainingView | None:
        return self.context.trainings.status(session)

    def stop(self, session: str) -> bool:
        return self.context.trainings.stop(session)

    def queue(self) -> list[tuple[str, str]]:
        """(label, state) of every training waiting or running (what every visitor may see)."""
        return self.context.trainings.queue()

    @staticmethod
    def live_curves(view: TrainingView | None) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """Folder name -> the curves its training has written so far (read while it grows)."""
        if view is None:
            return {}
        out = {}
        for folder in view.folders:
            curves = read_curves(Path(folder) / LOG_NAME)
            if curves:
                out[Path(folder).name] = curves
        return out
