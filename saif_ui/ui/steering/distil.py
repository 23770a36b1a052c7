"""The Steering tab's Distil panel: train the vector that makes the model, given the content alone, do what it does
when told the tab's instruction (prompt distillation), watch its loss and validation checks grow, stop it, and steer
with the result: its latents as chips with coefficients and labels, its SAE reading beside SAIF's latents, answers
original / steered / prompted, or the Steering tab's controls set to it.

Like the SAEs tab's Train panel, the run happens in a server queue (`backend.distil`), not in the request: Start
returns at once with its place and the time it should take, and a timer polls `/distil_status` while it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr
import pandas as pd

from saif_ui.service import (
    MAX_DISTIL_STEPS,
    USER_ERRORS,
    Backend,
    Decoding,
    DistilControls,
    DistilResult,
    DistilView,
    PromptChoice,
    Session,
    renders,
)
from saif_ui.ui import figures
from saif_ui.ui.instructions import InstructionsTab
from saif_ui.ui.steering.tab import SteeringTab, log_alpha, strength_updates
from saif_ui.ui.texts import answer_and_verdict, partial_answers
from saif_ui.ui.train import minutes
from saif_ui.ui.widgets import MODEL_EVENT, answer_columns, gpu, handler, private, session_of, user_errors, wire_stop

POLL_S = 2.0
DEFAULT_STEPS = 60
CHECK_HEADERS = ["step", "n", "success", "fluent strict", "strict", "loss"]
LATENT_HEADERS = ["latent", "coefficient", "label", "in SAIF's top 20"]
DISTIL_MODES = {
    "original": "Original (content only)",
    "steered": "Steered with the distilled vector",
    "prompted": "Prompted (content + instruction)",
}


@dataclass
class DistilPanel:
    layer: gr.Dropdown
    basis: gr.Radio
    steps: gr.Slider
    estimate: gr.Markdown
    start_btn: gr.Button
    stop_btn: gr.Button
    status: gr.Markdown
    plot: gr.Plot
    checks: gr.Dataframe
    chips: gr.Markdown
    reading: gr.Markdown
    latents: gr.Dataframe
    steer_btn: gr.Button
    steer_stop: gr.Button
    """Stops the answers as they are written (the Stop above stops the distillation)."""
    load_btn: gr.Button
    answers: dict[str, tuple[gr.Textbox, gr.Markdown]]
    timer: gr.Timer
    seen: gr.State

    @property
    def form(self) -> list[Any]:
        return [self.layer, self.basis, self.steps]


def status_markdown(view: DistilView | None, queue: list[tuple[str, str]]) -> str:
    """Where the visitor's distillation stands, and the server's queue."""
    waiting = f"Server queue: {len(queue)} distillation(s) waiting or running." if queue else "The server is idle."
    if view is None:
        return f"No distillation yet. {waiting}"
    run = view.run
    head = f"**{run.label}** — "
    if run.state == "queued":
        body = f"queued, {run.position} ahead of it (one distillation runs at a time on this server)"
    elif run.state == "running":
        step = f" step {run.done} of {run.total}," if run.phase == "training" else ""
        body = (f"running: {run.phase or 'starting'},{step} {minutes(run.elapsed_s)} so far of about "
                f"{minutes(run.estimate_s)} (estimated)")  # fmt: skip
    elif run.state == "done" and view.result is not None:
        r = view.result
        kept = f"stopped at step {len(view.history)}: the best vector so far is kept (its reading skipped)"
        body = kept if r.stopped else f"done in {minutes(run.elapsed_s)}"
        body += f"; best step {r.summary['best_step']}, norm {r.summary['norm']}"
    elif run.state == "stopped":
        body = "stopped before training began; nothing was kept"
    else:
        body = f"failed: {run.error}"
    return f"{head}{body}. {waiting}"


def checks_frame(view: DistilView | None) -> pd.DataFrame:
    rows = [[c["step"], c["n"], c["successes"], c["fluent"], c["strict"], round(c["loss"], 4)]
            for c in (view.checks if view else [])]  # fmt: skip
    return pd.DataFrame(rows, columns=CHECK_HEADERS)


def chips_markdown(result: DistilResult | None) -> str:
    """The `sae` vector's latents as chips (id, coefficient, label), largest first; for `free`, what it is."""
    if result is None:
        return ""
    s = result.summary
    head = f"**{s['instruction']}**, {s['basis']} vector at layer {s['layer']}, norm {s['norm']}"
    if not result.chips:
        return f"{head}: a free vector (no latents by construction; its reading below fits it with latents)."
    chips = " ".join(f"`#{c.latent} {c.coefficient:+.2f}` {c.label or '(no label)'} ·" for c in result.chips)
    return f"{head}, made of {len(result.chips)} latents (unit directions × coefficient):\n\n{chips.rstrip(' ·')}"


def reading_markdown(result: DistilResult | None) -> str:
    """The SAE reading: shares of the top latents, how much of the vector they rebuild, the overlap with SAIF's
    latents and the effect check."""
    if result is None:
        return ""
    r = result.reading
    if r is None:
        why = "stopped early" if result.stopped else "no attached SAE reads its layer"
        return f"No SAE reading ({why})."
    shares = " / ".join(f"{100 * r['share'][k]:.0f}%" for k in ("5", "10", "20"))
    explained = " / ".join(f"{100 * r['explained'][k]:.0f}%" for k in ("5", "10", "20"))
    overlap = r["saif_overlap"]
    lines = [
        f"In **{r['sae']}**: {r['nonzero']} latents (fit R² {r['fit_r2']:.2f}); the top 5 / 10 / 20 carry "
        f"{shares} of the squared coefficients and rebuild {explained} of the vector.",
        f"SAIF overlap: {len(overlap['shared'])} of its top {overlap['k']} latents "
        f"({', '.join(map(str, overlap['shared'])) or 'none'}).",
    ]
    for e in r["effect"]:
        lines.append(
            f"Effect at {e['sae']} (layer {e['layer']}): the latent change it causes against the prompt's, cosine "
            f"**{e['cosine']:.2f}**, top-{e['k']} overlap **{100 * e['top_overlap']:.0f}%**."
        )
    return "\n\n".join(lines)


def latents_frame(result: DistilResult | None) -> pd.DataFrame:
    r = result.reading if result else None
    if r is None:
        return pd.DataFrame(columns=LATENT_HEADERS)
    shared = set(r["saif_overlap"]["shared"])
    rows = [[i, round(c, 4), label, "✓" if i in shared else ""]
            for i, c, label in zip(r["latents"], r["coefficients"], r["labels"], strict=True)]  # fmt: skip
    return pd.DataFrame(rows, columns=LATENT_HEADERS)


def build_distil_section(backend: Backend) -> DistilPanel:
    with gr.Accordion("Distil: train a vector from the prompt, read it through the SAE", open=False):
        gr.Markdown(
            "Trains the vector that makes the model, given the content alone, answer as it does when told the "
            "instruction chosen above (KL to the prompted model along its own answers; as `python -m saif_ui "
            "distil`). `sae`: a sparse combination of the SAE's latents (interpretable); `free`: any vector (the "
            "ceiling of one vector). Validation checks keep the best vector. One distillation runs at a time on "
            "this server."
        )
        layers, default = backend.distil.layers(), backend.distil.default_layer()
        with gr.Row():
            layer = gr.Dropdown(layers, value=default, label="layer (an attached SAE's)", allow_custom_value=True,
                                elem_id="distil-layer")  # fmt: skip
            basis = gr.Radio(["sae", "free"], value="sae", label="basis", elem_id="distil-basis")
            steps = gr.Slider(1, MAX_DISTIL_STEPS, value=DEFAULT_STEPS, step=1, label="budget (optimiser steps)",
                              elem_id="distil-steps")  # fmt: skip
        estimate = gr.Markdown(_estimate(backend, default, "sae", DEFAULT_STEPS), elem_id="distil-estimate")
        with gr.Row():
            start_btn = gr.Button("Distil", variant="primary", size="sm", elem_id="distil-start")
            stop_btn = gr.Button("Stop", variant="stop", size="sm", elem_id="distil-stop")
        status = gr.Markdown(elem_id="distil-status")
        plot = gr.Plot(figures.distil_figure([], []), elem_id="distil-plot")
        checks = gr.Dataframe(pd.DataFrame(columns=CHECK_HEADERS), label="Validation checks", interactive=False)
        chips = gr.Markdown(elem_id="distil-chips")
        reading = gr.Markdown(elem_id="distil-reading")
        latents = gr.Dataframe(pd.DataFrame(columns=LATENT_HEADERS), label="Its top latents in the SAE",
                               interactive=False, wrap=True, elem_id="distil-latents")  # fmt: skip
        with gr.Row():
            steer_btn = gr.Button("Steer the content with it", variant="secondary", elem_id="distil-steer")
            steer_stop = gr.Button("Stop answering", variant="stop", size="sm", elem_id="distil-steer-stop")
            load_btn = gr.Button("Load its latents into the steering controls", elem_id="distil-load")
        answers = answer_columns(DISTIL_MODES, "distil-out-{}", "distil-verdict-{}", lines=5, interactive=False)
        timer = gr.Timer(POLL_S, active=False)
        seen = gr.State(None)
    return DistilPanel(layer, basis, steps, estimate, start_btn, stop_btn, status, plot, checks, chips, reading,
                       latents, steer_btn, steer_stop, load_btn, answers, timer, seen)  # fmt: skip


def _estimate(backend: Backend, layer: Any, basis: Any, steps: Any) -> str:
    if layer is None:
        return "*Attach an SAE (SAEs tab) to distil at its layer.*"
    form = DistilControls.parse("", layer, basis, steps)
    seconds = backend.distil.estimate(form.layer, form.basis, form.steps)
    return f"Estimated time on the 2-core machine: about **{minutes(seconds)}** (an estimate from measured rates)."


def wire_distil(
    backend: Backend, panel: DistilPanel, tab: SteeringTab, ins: InstructionsTab, sae: gr.Dropdown, state: gr.State
) -> None:
    """Start, Stop, the polled status and the two ways to steer with the result."""

    def distil_estimate(layer: float, basis: str, steps: float) -> str:
        try:
            return _estimate(backend, layer, basis, steps)
        except USER_ERRORS as err:  # a half-typed form: say what is wrong instead of an estimate
            return f"*{err}*"

    gr.on([c.change for c in panel.form], distil_estimate, panel.form, panel.estimate, queue=False,
          show_progress="hidden", api_name="distil_estimate")  # fmt: skip
    sae.change(lambda _: gr.update(choices=backend.distil.layers()), sae, panel.layer, queue=False,
               **private("distil_layers"))  # fmt: skip

    @gpu("distil")
    @user_errors
    def distil(instruction: str, layer: float, basis: str, steps: float, request: gr.Request) -> tuple[Any, ...]:
        form = DistilControls.parse(instruction, layer, basis, steps)
        view = backend.distil.start(session_of(request), form)
        return status_markdown(view, backend.distil.queue.queue()), gr.Timer(active=True)

    panel.start_btn.click(distil, [ins.instruction, *panel.form], [panel.status, panel.timer], api_name="distil")

    @user_errors
    def stop_distil(request: gr.Request) -> str:
        session = session_of(request)
        stopped = backend.distil.stop(session)
        note = "Stopping at the next step… " if stopped else "Nothing to stop. "
        return note + status_markdown(backend.distil.status(session), backend.distil.queue.queue())

    panel.stop_btn.click(stop_distil, None, panel.status, api_name="stop_distil")

    @user_errors
    def distil_status(seen: Any, request: gr.Request) -> tuple[Any, ...]:
        """Status, loss and checks while it runs; chips, reading and latents once (when it has just finished)."""
        view = backend.distil.status(session_of(request))
        finished = view is not None and not view.run.active
        key = (view.run.id, view.run.state) if view is not None else None
        out: list[Any] = [
            status_markdown(view, backend.distil.queue.queue()),
            figures.distil_figure(view.history if view else [], view.checks if view else []),
            checks_frame(view),
        ]
        if finished and key != seen:
            result = view.result if view else None
            out += [chips_markdown(result), reading_markdown(result), latents_frame(result)]
        else:
            out += [gr.update(), gr.update(), gr.update()]
        return (*out, gr.Timer(active=not finished), key if finished else seen)

    polled = [panel.status, panel.plot, panel.checks, panel.chips, panel.reading, panel.latents, panel.timer,
              panel.seen]  # fmt: skip
    panel.timer.tick(distil_status, panel.seen, polled, api_name="distil_status", show_progress="hidden")

    @gpu("steer_distilled")
    @handler
    def steer_distilled(choice: PromptChoice, decoding: Decoding, request: gr.Request) -> Iterator[list[str]]:
        session = session_of(request)
        with backend.streams.open(session, "distil_steer") as stop:
            updates = backend.distil.steer_stream(session, choice, decoding, stop)
            steered = yield from renders(updates, lambda p: partial_answers(p, DISTIL_MODES))
        checker = backend.instructions.resolve(replace(choice, instruction=steered.comparison.instruction)).checker
        yield [x for mode in DISTIL_MODES for x in answer_and_verdict(steered.comparison, mode, checker)]

    event = panel.steer_btn.click(
        steer_distilled,
        [*ins.prompt_inputs, *tab.decoding_inputs],
        [c for mode in DISTIL_MODES for c in panel.answers[mode]],
        api_name="steer_distilled",
        **MODEL_EVENT,
    )
    wire_stop(backend, panel.steer_stop, "distil_steer", [event])

    @user_errors
    def load_distilled(state: Session, request: gr.Request) -> list[Any]:
        """The Steering tab's SAE, latents, strengths, α, positions, scale, decay and method (add: what it was trained
        as) set to the `sae` vector."""
        result = backend.distil.result(session_of(request))
        controls = result.steer_controls()
        ids = list(controls.latents)
        choices = [*state.latent_choices()]
        choices += [(str(i), str(i)) for i in ids if str(i) not in {v for _, v in choices}]
        picker = gr.update(choices=choices, value=[str(i) for i in ids])
        labels = {c.latent: c.label for c in result.chips}
        strengths = strength_updates(ids, controls.strength_of(), labels)
        return [result.sae, picker, controls.alpha, log_alpha(controls.alpha), controls.positions, controls.scale,
                controls.decay, controls.method, *strengths]  # fmt: skip

    panel.load_btn.click(
        load_distilled,
        [state],
        [
            sae,
            tab.picker,
            tab.alpha,
            tab.alpha_log,
            tab.positions,
            tab.scale,
            tab.decay,
            tab.method,
            *tab.strength_outputs,
        ],
        api_name="load_distilled",
    )
