"""The Steering tab's "Two instructions at once" section: the tab's instruction plus a second one, each steered by
its validated recipe (or its top-5 latents at the chosen SAE when it has none) at a weight each, answered original /
steered by both / prompted with both, every answer judged by both checkers; and a sweep over the two weights that
plots how often both are followed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from saif_ui.service import Backend, ControlError, Decoding, PromptChoice, Session, parse_alphas, renders
from saif_ui.ui import figures
from saif_ui.ui.instructions import InstructionsTab
from saif_ui.ui.steering.sweep import stoppable
from saif_ui.ui.steering.tab import SteeringTab
from saif_ui.ui.tables import JOINT_HEADERS, joint_table
from saif_ui.ui.texts import mark, partial_answers
from saif_ui.ui.widgets import MODEL_EVENT, PROGRESS, answer_columns, gpu, handler, private, session_of, wire_stop

JOINT_MODES = {
    "original": "Original (content only)",
    "steered": "Steered by both (content only + both recipes)",
    "prompted": "Prompted with both instructions",
}
DEFAULT_SECOND = "postscript"
"""The second instruction shown first: the model follows `french` + `postscript` together more often than most pairs
when told (see the joint study)."""
WEIGHTS = "0, 1, 2"


@dataclass
class JointSection:
    second: gr.Dropdown
    weight_first: gr.Slider
    weight_second: gr.Slider
    steer_btn: gr.Button
    steer_stop: gr.Button
    answers: dict[str, tuple[gr.Textbox, gr.Markdown]]
    spec_json: gr.Code
    sweep_weights: gr.Textbox
    sweep_n: gr.Slider
    sweep_btn: gr.Button
    sweep_stop: gr.Button
    sweep_plot: gr.Plot
    sweep_table: gr.Dataframe


def build_joint_section(backend: Backend) -> JointSection:
    gr.Markdown(
        "### Two instructions at once\n"
        "The instruction chosen above plus a second one: each steers with its validated recipe (or, without one, its "
        "top 5 latents at the chosen SAE), at a weight each (1 = the recipe's own strength). Every answer is judged "
        "by both checkers; the prompted answer is given both instructions, in order."
    )
    choices = [(label, iid) for label, iid in backend.instructions.choices() if iid != "custom"]
    second_default = DEFAULT_SECOND if any(iid == DEFAULT_SECOND for _, iid in choices) else None
    with gr.Row():
        second = gr.Dropdown(choices, value=second_default, label="Second instruction", elem_id="joint-second")
        weight_first = gr.Slider(0, 4, value=1, step=0.25, label="Weight of the first", elem_id="joint-weight-first")
        weight_second = gr.Slider(0, 4, value=1, step=0.25, label="Weight of the second", elem_id="joint-weight-second")
        steer_btn = gr.Button("Steer both", variant="primary", elem_id="steer-joint")
        steer_stop = gr.Button("Stop", variant="stop", size="sm", scale=0, elem_id="steer-joint-stop")
    answers = answer_columns(JOINT_MODES, "joint-answer-{}", "joint-verdict-{}", interactive=False)
    with gr.Accordion("Spec of both instructions (JSON)", open=False):
        spec_json = gr.Code(language="json", elem_id="joint-spec")
    with gr.Row():
        sweep_weights = gr.Textbox(WEIGHTS, label="Weights to combine (each instruction)", elem_id="joint-weights")
        sweep_n = gr.Slider(2, 24, value=6, step=1, label="Validation contents", elem_id="joint-n")
        sweep_btn = gr.Button("Sweep both weights", variant="secondary", elem_id="sweep-joint")
        sweep_stop = gr.Button("Stop", variant="stop", size="sm", elem_id="sweep-joint-stop")
    sweep_plot = gr.Plot(figures.joint_figure([], [], {}, ("", ""), {}), elem_id="joint-plot")
    sweep_table = gr.Dataframe(headers=JOINT_HEADERS, interactive=False, elem_id="joint-table")
    return JointSection(
        second, weight_first, weight_second, steer_btn, steer_stop, answers, spec_json, sweep_weights, sweep_n,
        sweep_btn, sweep_stop, sweep_plot, sweep_table,
    )  # fmt: skip


def verdicts_md(out: dict[str, Any], stopped: bool = False) -> str:
    """One line under a joint answer: both followed?, each checker, and the fluency signals (`stopped`: the visitor
    stopped the generation, so an unfinished answer was cut there)."""
    parts = [f"**both**: {mark(out['strict'])}"]
    parts += [f"{iid} {mark(ok)}" for iid, ok in out["verdicts"].items()]
    if out.get("perplexity") is not None:
        parts.append(f"perplexity {out['perplexity']:.1f}")
    parts.append(f"repeated (loops) {100 * out['repetition']:.0f}%")
    if not out.get("finished", True):
        parts.append("stopped" if stopped else "cut at max tokens")
    return " · ".join(parts)


def sweep_figure(data: dict[str, Any]) -> Any:
    cells = data["cells"]
    rates = {(c["weights"][0], c["weights"][1]): (c["success"]["rate"], c["success"]["k"], c["success"]["n"])
             for c in cells}  # fmt: skip
    baselines = {name.replace("_", " "): b["success"]["rate"] for name, b in data["baselines"].items()}
    return figures.joint_figure(
        [w for w, _ in rates], [w for _, w in rates], rates, tuple(data["instructions"]), baselines
    )


def wire_joint(
    backend: Backend, joint: JointSection, tab: SteeringTab, ins: InstructionsTab, sae: gr.Dropdown, state: gr.State
) -> None:
    """The two events; each keeps its result in the session (`extra["joint_steer"]`, `extra["joint_sweep"]`), so
    the exploration's JSON holds it and the sweep's table exports as CSV."""

    @gpu("steer_joint")
    @handler
    def steer_joint(
        choice: PromptChoice,
        sae: str,
        second: str,
        weight_first: float,
        weight_second: float,
        decoding: Decoding,
        state: Session,
        request: gr.Request,
    ) -> Iterator[list[Any]]:
        weights = (float(weight_first), float(weight_second))
        with backend.streams.open(session_of(request), "steer_joint") as stop:
            updates = backend.steering.steer_joint_stream(choice, second, weights, sae, decoding, stop)
            data = yield from renders(updates, lambda p: [*partial_answers(p, JOINT_MODES), gr.skip(), gr.skip()])
        state.extra["joint_steer"] = data
        out: list[Any] = []
        for mode in JOINT_MODES:
            out += [data[mode]["text"], verdicts_md(data[mode], bool(data.get("stopped")))]
        yield [*out, json.dumps(data["joint"], indent=1), state]

    event = joint.steer_btn.click(
        steer_joint,
        [*ins.prompt_inputs, sae, joint.second, joint.weight_first, joint.weight_second, *tab.decoding_inputs, state],
        [c for mode in JOINT_MODES for c in joint.answers[mode]] + [joint.spec_json, state],
        api_name="steer_joint",
        **MODEL_EVENT,
    )
    wire_stop(backend, joint.steer_stop, "steer_joint", [event])

    @gpu("joint_sweep")
    @handler
    def sweep_joint(
        choice: PromptChoice,
        sae: str,
        second: str,
        weights: str,
        n_contents: float,
        max_new_tokens: float,
        state: Session,
        request: gr.Request,
        progress: gr.Progress = PROGRESS,
    ) -> tuple[Any, Any, Session]:
        try:
            values = parse_alphas(weights, limit=5)
        except ControlError as err:
            raise ControlError(str(err).replace("α", "weight")) from None
        with backend.jobs.run(session_of(request), "joint sweep") as stop:
            progress(0, desc=f"{len(values) ** 2 - 1} weight pairs × {int(n_contents)} validation contents")
            data = backend.sweeps.sweep_joint(
                choice, second, values, sae, int(n_contents), int(max_new_tokens),
                stoppable(stop, progress, "joint sweep", "generations"),
            )  # fmt: skip
        state.extra["joint_sweep"] = data
        return sweep_figure(data), joint_table(data).frame(), state

    event = joint.sweep_btn.click(
        sweep_joint,
        [*ins.prompt_inputs, sae, joint.second, joint.sweep_weights, joint.sweep_n, tab.max_new_tokens, state],
        [joint.sweep_plot, joint.sweep_table, state],
        api_name="sweep_joint",
        **MODEL_EVENT,
    )

    def stop_sweep(request: gr.Request) -> None:
        # As the α sweep's Stop: gradio stops waiting, the flag stops the library's loop at its next batch.
        if backend.jobs.cancel(session_of(request)):
            gr.Info("Stopping…")

    joint.sweep_stop.click(stop_sweep, None, None, cancels=[event], **private("stop_joint_sweep"))
