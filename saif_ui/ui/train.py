"""The SAEs tab's Train panel: train an SAE (or a FAST and a BT one side by side) with the `train-sae` pipeline on
the server, watch its curve grow, stop it, and use the result.

The training runs in the server's training queue (`service.trainings`), not in the request: the Train button returns at
once with the run's place in the queue, and a timer polls `training_status` every few seconds while a run is
queued or running, so the visitor keeps using the other tabs meanwhile and a closed tab stops its run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from saif_ui.service import Backend, TrainControls, TrainingView
from saif_ui.ui import figures
from saif_ui.ui.tables import quality_table, sae_table
from saif_ui.ui.widgets import gpu, private, session_of, user_errors

POLL_S = 2.0
ARCH_SPARSITY = {"topk": "k (active latents)", "jumprelu": "target L0", "standard": "L1 coefficient"}


@dataclass
class TrainPanel:
    layer: gr.Number
    method: gr.Radio
    arch: gr.Radio
    d_sae: gr.Number
    sparsity: gr.Number
    tokens: gr.Number
    seed: gr.Number
    estimate: gr.Markdown
    train_btn: gr.Button
    both_btn: gr.Button
    stop_btn: gr.Button
    status: gr.Markdown
    curves: gr.Plot
    result: gr.Dataframe
    timer: gr.Timer
    seen: gr.State


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def status_markdown(view: TrainingView | None, queue: list[tuple[str, str]]) -> str:
    """Where the visitor's training stands, and the server's queue."""
    waiting = f"Server queue: {len(queue)} training(s) waiting or running." if queue else "The server is idle."
    if view is None:
        return f"No training yet. {waiting}"
    head = f"**{view.label}** — "
    if view.state == "queued":
        body = f"queued, {view.position} ahead of it (one training runs at a time on this server)"
    elif view.state == "running":
        share = f" {100 * view.done / view.total:.0f}%" if view.total else ""
        body = (f"running: {view.phase or 'starting'}{share} ({view.done:,} of {view.total:,}), "
                f"{minutes(view.elapsed_s)} so far of about {minutes(view.estimate_s)}")  # fmt: skip
    elif view.state == "done":
        names = ", ".join(f"**{r['name']}**" for r in view.result or [])
        body = f"done in {minutes(view.elapsed_s)}: {names} attached for you (choose it in the SAE menu)"
    elif view.state == "stopped":
        body = f"stopped during {view.phase or 'the queue'}; nothing was kept"
    else:
        body = f"failed: {view.error}"
    return f"{head}{body}. {waiting}"


def result_rows(view: TrainingView | None) -> Any:
    """The finished run's quality table (both SAEs side by side), or an empty one."""
    reports = {r["name"]: r["manifest"].get("report") for r in (view.result or [])} if view and view.result else {}
    return quality_table(reports).frame()


def curves_figure(backend: Backend, view: TrainingView | None) -> Any:
    """Every run's curves so far (loss, MSE, L0, dead latents...), one line per metric and run."""
    live = backend.training.live_curves(view)
    if not live:
        return figures.empty_figure("The curve appears here once training starts (after the harvest).", 220)
    merged = {f"{metric} · {run}": points for run, curves in live.items() for metric, points in curves.items()}
    return figures.training_curves(merged, "training so far" if view and view.active else "training")


def estimate_markdown(backend: Backend, controls: TrainControls) -> str:
    one = backend.training.estimate(controls, False)
    both = backend.training.estimate(controls, True)
    return f"Estimated time on the 2-core machine: about **{minutes(one)}** (side by side: {minutes(both)})."


def build_train_panel(backend: Backend) -> TrainPanel:
    d = backend.training.defaults()
    gr.Markdown(
        "Runs the same pipeline as `python -m saif_ui train-sae` (harvest, sae-lens training, held-out report) on "
        "this server. The defaults finish in a few minutes on 2 CPU cores; one training runs at a time, others "
        "wait in a queue. The new SAE is yours only and is removed when you close the tab."
    )
    with gr.Row():
        top = int(backend.engine_info()["n_layers"]) - 1
        layer = gr.Number(d.layer, label=f"layer (0–{top})", precision=0, minimum=0, maximum=top, elem_id="train-layer")
        method = gr.Radio(["fast", "bt"], value=d.method, label="method (FAST: one chat per sequence; BT: blocks)")
        arch = gr.Radio(["topk", "jumprelu", "standard"], value=d.arch, label="architecture")
    with gr.Row():
        d_sae = gr.Number(d.d_sae, label="d_sae (latents)", precision=0, elem_id="train-d-sae")
        sparsity = gr.Number(d.sparsity, label=ARCH_SPARSITY[d.arch], elem_id="train-sparsity")
        tokens = gr.Number(d.tokens, label="token budget (training samples)", precision=0, elem_id="train-tokens")
        seed = gr.Number(d.seed, label="seed", precision=0, elem_id="train-seed")
    estimate = gr.Markdown(estimate_markdown(backend, d), elem_id="train-estimate")
    with gr.Row():
        train_btn = gr.Button("Train", variant="primary", size="sm", elem_id="train-btn")
        both_btn = gr.Button("Train FAST and BT side by side", size="sm", elem_id="train-both-btn")
        stop_btn = gr.Button("Stop", variant="stop", size="sm", elem_id="train-stop-btn")
    status = gr.Markdown(elem_id="train-status")
    curves = gr.Plot(figures.empty_figure("No training yet.", 220), elem_id="train-curves")
    result = gr.Dataframe(quality_table({}).frame(), label="Quality of the trained SAE(s)", interactive=False)
    timer = gr.Timer(POLL_S, active=False)
    seen = gr.State(None)
    return TrainPanel(layer, method, arch, d_sae, sparsity, tokens, seed, estimate, train_btn, both_btn, stop_btn,
                      status, curves, result, timer, seen)  # fmt: skip


def wire_train_panel(backend: Backend, panel: TrainPanel, sae: gr.Dropdown, attached: gr.Dataframe) -> None:
    form: list[Any] = [panel.layer, panel.method, panel.arch, panel.d_sae, panel.sparsity, panel.tokens, panel.seed]

    def parse(*values: Any) -> TrainControls:
        return TrainControls.parse(*values)

    def estimate(*values: Any) -> str:
        try:
            return estimate_markdown(backend, parse(*values))
        except Exception as err:  # a half-typed form: say what is wrong instead of an estimate
            return f"*{err}*"

    gr.on([box.change for box in form], estimate, form, panel.estimate, queue=False, show_progress="hidden",
          **private("train_estimate"))  # fmt: skip
    panel.arch.change(lambda a: gr.update(label=ARCH_SPARSITY.get(a, "sparsity")), panel.arch, panel.sparsity,
                      queue=False, **private("train_sparsity_label"))  # fmt: skip

    def start(side_by_side: bool, values: tuple[Any, ...], request: gr.Request) -> tuple[Any, ...]:
        view = backend.training.start(session_of(request), parse(*values), side_by_side)
        return status_markdown(view, backend.training.queue()), gr.Timer(active=True)

    def starter(side_by_side: bool) -> Callable[..., tuple[Any, ...]]:
        """The handler of one Train button; a factory, so both buttons share it with their own `side_by_side`."""

        # Named parameters (not *values): the API's parameter names are the handler's.
        @gpu("train")
        @user_errors
        def train(
            layer: float, method: str, arch: str, d_sae: float, sparsity: float, tokens: float, seed: float,
            request: gr.Request,
        ) -> tuple[Any, ...]:  # fmt: skip
            return start(side_by_side, (layer, method, arch, d_sae, sparsity, tokens, seed), request)

        return train

    started = [panel.status, panel.timer]
    panel.train_btn.click(starter(False), form, started, api_name="train_sae")
    panel.both_btn.click(starter(True), form, started, api_name="train_side_by_side")

    @user_errors
    def stop(request: gr.Request) -> str:
        session = session_of(request)
        stopped = backend.training.stop(session)
        view = backend.training.status(session)
        note = "" if stopped else "Nothing to stop. "
        return note + status_markdown(view, backend.training.queue())

    panel.stop_btn.click(stop, None, panel.status, api_name="stop_training")

    @user_errors
    def poll(seen: Any, request: gr.Request) -> tuple[Any, ...]:
        """Status, curves and result; when a run has just finished, the SAE menu and table gain its SAEs (once)."""
        session = session_of(request)
        view = backend.training.status(session)
        outputs = [status_markdown(view, backend.training.queue()), curves_figure(backend, view), result_rows(view)]
        finished = view is not None and not view.active
        key = (view.id, view.state) if view is not None else None
        if view is not None and finished and view.state == "done" and key != seen:
            choices = backend.saes.choices(session)
            outputs += [gr.update(choices=choices), sae_table(backend.saes.table_rows(session)).frame()]
        else:
            outputs += [gr.update(), gr.update()]
        return (*outputs, gr.Timer(active=not finished), key if finished else seen)

    polled = [panel.status, panel.curves, panel.result, sae, attached, panel.timer, panel.seen]
    panel.timer.tick(poll, panel.seen, polled, api_name="training_status", show_progress="hidden")
