"""The Steering tab's long jobs: the α sweep on validation contents (cancellable), the drop-one / add-one ablation
of the selection and the special-token grid."""

from __future__ import annotations

from typing import Any

import gradio as gr

from saif_ui.service import Backend, Cancelled, PromptChoice, Session, SteerControls, parse_alphas, parse_latent_ids
from saif_ui.ui.instructions import InstructionsTab
from saif_ui.ui.steering.tab import SteeringTab, strengths_then
from saif_ui.ui.tables import ablation_plot, grid_table, sweep_plot, sweep_table
from saif_ui.ui.texts import compliance_md
from saif_ui.ui.widgets import MODEL_EVENT, PROGRESS, gpu, handler, private, session_of, user_errors


def wire_sweep(backend: Backend, tab: SteeringTab, ins: InstructionsTab, sae: gr.Dropdown, state: gr.State) -> None:
    @gpu("sweep")
    @handler
    def sweep(
        controls: SteerControls,
        choice: PromptChoice,
        sae: str,
        alphas: str,
        n_contents: float,
        max_new_tokens: float,
        prompted_steered: bool,
        state: Session,
        request: gr.Request,
        progress: gr.Progress = PROGRESS,
    ) -> tuple[Any, Any, str, Session]:
        values = parse_alphas(alphas)
        with backend.jobs.run(session_of(request), "sweep") as stop:
            progress(0, desc=f"{len(values)} α values × {int(n_contents)} validation contents")
            evaluation = backend.sweeps.evaluate(
                choice,
                sae,
                controls,
                state.discovery,
                values,
                int(n_contents),
                int(max_new_tokens),
                bool(prompted_steered),
                stoppable(stop, progress, "sweep", "generations"),
            )
        state.evaluation = evaluation
        note = compliance_md(backend.instructions.resolve(choice), evaluation.baseline("prompted"))
        return sweep_plot(evaluation), sweep_table(evaluation).frame(), note, state

    event = strengths_then(tab.sweep_btn.click, tab, "sweep").success(
        sweep,
        [
            *tab.spec_inputs,
            *ins.prompt_inputs,
            sae,
            tab.sweep_alphas,
            tab.sweep_n,
            tab.max_new_tokens,
            tab.prompted_steered,
            state,
        ],
        [tab.sweep_plot, tab.sweep_table, ins.compliance, state],
        api_name="sweep",
        **MODEL_EVENT,
    )

    def stop_sweep(request: gr.Request) -> None:
        # Gradio stops waiting for the event; the flag stops the library's loop at its next progress report.
        if backend.jobs.cancel(session_of(request)):
            gr.Info("Stopping…")

    tab.sweep_stop.click(stop_sweep, None, None, cancels=[event], api_name="stop_sweep")

    @gpu("ablation")
    @handler
    def ablation(
        controls: SteerControls,
        choice: PromptChoice,
        sae: str,
        n_contents: float,
        max_new_tokens: float,
        state: Session,
        request: gr.Request,
        progress: gr.Progress = PROGRESS,
    ) -> tuple[Any, Session]:
        with backend.jobs.run(session_of(request), "ablation") as stop:
            progress(0, desc=f"drop-one and add-one on {int(n_contents)} validation contents")
            report = stoppable(stop, progress, "ablation", "variants")
            result = backend.sweeps.ablate(
                choice, sae, controls, state.discovery, int(n_contents), int(max_new_tokens), report
            )
        state.ablation = result  # its points export as ablation.csv
        return ablation_plot(result), state

    strengths_then(tab.ablate_btn.click, tab, "ablate").success(
        ablation,
        [*tab.spec_inputs, *ins.prompt_inputs, sae, tab.ablate_n, tab.max_new_tokens, state],
        [tab.ablate_plot, state],
        api_name="ablate",
        **MODEL_EVENT,
    )

    @gpu("special_grid")
    @user_errors
    def special_grid(
        sae: str,
        latent: str | None,
        content: str,
        alphas: str,
        max_new_tokens: float,
        instruction: str,
        state: Session,
        request: gr.Request,
        progress: gr.Progress = PROGRESS,
    ) -> tuple[Any, Session]:
        ids = parse_latent_ids(latent)
        if len(ids) > 1:
            raise gr.Error("Choose one special-token latent.")
        values = parse_alphas(alphas)
        # Verdicts need a catalogue checker; a custom instruction's outputs are shown unjudged.
        with backend.jobs.run(session_of(request), "special-token grid") as stop:
            report = stoppable(stop, progress, "special-token grid", "α values")
            grid = backend.sweeps.special_grid(
                sae, ids[0] if ids else None, content, values, int(max_new_tokens), instruction, report
            )
        state.grid = grid
        return grid_table(grid).frame(), state

    tab.grid_btn.click(
        special_grid,
        [sae, tab.grid_latent, ins.content, tab.grid_alphas, tab.max_new_tokens, ins.instruction, state],
        [tab.grid_table, state],
        api_name="special_grid",
        **MODEL_EVENT,
    )

    def grid_choices(sae: str) -> Any:
        choices = backend.sweeps.special_choices(sae)
        return gr.update(choices=choices, value=choices[0][1] if choices else None)

    sae.change(grid_choices, sae, tab.grid_latent, **private("grid_choices"))


def stoppable(stop: Any, progress: gr.Progress, what: str, unit: str) -> Any:
    """A progress callback for the library's loops that raises `Cancelled` once the visitor pressed Stop."""

    def report(done: int, total: int) -> None:
        if stop.is_set():
            raise Cancelled(f"the {what} was stopped after {done} of {total} {unit}")
        progress(done / max(total, 1), desc=f"{done}/{total} {unit}")

    return report
