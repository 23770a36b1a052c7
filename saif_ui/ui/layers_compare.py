"""The Latents tab's "Compare two layers" section: the instruction's top latents at two SAEs side by side (with their
labels), and the content steered by each one's top 5 — beside the original and prompted answers, every answer with
its verdict."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from saif_ui.service import Backend, Decoding, LayerComparison, Partial, PromptChoice, Session, renders
from saif_ui.ui.instructions import InstructionsTab
from saif_ui.ui.tables import LATENT_HEADERS, latent_table
from saif_ui.ui.texts import verdict_md
from saif_ui.ui.widgets import MODEL_EVENT, gpu, handler, private, session_of, wire_stop

SHOWN_COLUMNS = ["rank", "latent", "label (top contexts)", "score", "logit lens"]
"""The columns of each side's table (the full table, every statistic, is the main discovery's)."""


@dataclass
class LayerSection:
    saes: tuple[gr.Dropdown, gr.Dropdown]
    top_k: gr.Slider
    n_contents: gr.Slider
    button: gr.Button
    stop: gr.Button
    headers: tuple[gr.Markdown, gr.Markdown]
    tables: tuple[gr.Dataframe, gr.Dataframe]
    answers: tuple[gr.Textbox, gr.Textbox]
    verdicts: tuple[gr.Markdown, gr.Markdown]
    baselines: gr.Markdown


def _default_pair(backend: Backend) -> tuple[str | None, str | None]:
    """The shallowest attached SAE a recipe uses (else the shallowest) against the default SAE."""
    names = backend.saes.names()
    second = backend.saes.default()
    first = next((n for n in names if n != second), None)
    return first, second


def build_layer_section(backend: Backend) -> LayerSection:
    gr.Markdown(
        "### Compare two layers\n"
        "The instruction's top latents at two SAEs side by side, and the content steered by each one's top 5 at "
        "α = 1 (their mean presence under the instruction; not a validated recipe): which layer carries it, and "
        "which one steers."
    )
    first, second = _default_pair(backend)
    choices = backend.saes.choices()
    with gr.Row():
        sae_a = gr.Dropdown(choices, value=first, label="First SAE", elem_id="layers-sae-a")
        sae_b = gr.Dropdown(choices, value=second, label="Second SAE", elem_id="layers-sae-b")
        top_k = gr.Slider(5, 30, value=10, step=1, label="Top latents", elem_id="layers-top-k")
        n_contents = gr.Slider(4, 144, value=48, step=4, label="Contents (prompt pairs)", elem_id="layers-n")
        button = gr.Button("Compare the layers", variant="secondary", elem_id="compare-layers")
        stop = gr.Button("Stop", variant="stop", size="sm", scale=0, elem_id="compare-layers-stop")
    headers, tables, answers, verdicts = [], [], [], []
    with gr.Row():
        for side in ("a", "b"):
            with gr.Column():
                headers.append(gr.Markdown(elem_id=f"layers-head-{side}"))
                tables.append(gr.Dataframe(headers=SHOWN_COLUMNS, interactive=False, elem_id=f"layers-table-{side}"))
                answers.append(
                    gr.Textbox(label="Steered by its top 5", lines=4, interactive=False, elem_id=f"layers-out-{side}")
                )
                verdicts.append(gr.Markdown(elem_id=f"layers-verdict-{side}"))
    baselines = gr.Markdown(elem_id="layers-baselines")
    return LayerSection(
        (sae_a, sae_b), top_k, n_contents, button, stop, (headers[0], headers[1]), (tables[0], tables[1]),
        (answers[0], answers[1]), (verdicts[0], verdicts[1]), baselines,
    )  # fmt: skip


def side_table(result: LayerComparison, i: int) -> Any:
    frame = latent_table(result.sides[i].discovery).frame()
    keep = [LATENT_HEADERS.index(c) for c in SHOWN_COLUMNS]
    return frame.iloc[:, keep]


def side_header(result: LayerComparison, i: int) -> str:
    side = result.sides[i]
    top = side.discovery.latents[:1]
    best = f"; top score {top[0].score:.2f}" if top else ""
    return (
        f"**{side.sae}** (layer {side.layer}): {len(side.discovery.latents)} latents carry `{result.instruction}`{best}"
    )


def baselines_md(result: LayerComparison) -> str:
    return _baselines([(result.original.text, verdict_md(result.original, result.checker)),
                       (result.prompted.text, verdict_md(result.prompted, result.checker))])  # fmt: skip


def _baselines(answers: list[tuple[str, str]]) -> str:
    """The original and prompted answers (shortened), each with its verdict line ("" while it is written)."""
    lines = []
    for name, (answer, verdict) in zip(("Original (content only)", "Prompted"), answers, strict=True):
        text = " ".join(answer.split())
        lines.append(f"- **{name}**: {text[:240]}{'…' if len(text) > 240 else ''}  \n  {verdict}")
    return "\n".join(lines)


def wire_layer_section(
    backend: Backend, section: LayerSection, ins: InstructionsTab, sae: gr.Dropdown, state: gr.State
) -> None:
    @gpu("compare_layers")
    @handler
    def compare_layers(
        choice: PromptChoice,
        sae_a: str,
        sae_b: str,
        top_k: float,
        n_contents: float,
        decoding: Decoding,
        state: Session,
        request: gr.Request,
    ) -> Iterator[list[Any]]:
        def partial(p: Partial) -> list[Any]:
            answers = [p.texts.get(sae_a, ""), p.texts.get(sae_b, "")]
            baselines = _baselines([(p.texts.get("original", ""), ""), (p.texts.get("prompted", ""), "")])
            return [*[gr.skip()] * 4, *answers, "", "", baselines, gr.skip()]

        with backend.streams.open(session_of(request), "compare_layers") as stop:
            updates = backend.discovery.compare_layers_stream(
                choice, (sae_a, sae_b), top_k=int(top_k), n_contents=int(n_contents), decoding=decoding, stop=stop,
            )  # fmt: skip
            result = yield from renders(updates, partial)
        state.extra["layer_comparison"] = result.to_dict()
        out: list[Any] = [side_header(result, 0), side_header(result, 1), side_table(result, 0), side_table(result, 1)]
        out += [result.sides[0].steered.text, result.sides[1].steered.text]
        out += [verdict_md(result.sides[i].steered, result.checker) for i in (0, 1)]
        yield [*out, baselines_md(result), state]

    event = section.button.click(
        compare_layers,
        [*ins.prompt_inputs, *section.saes, section.top_k, section.n_contents, *ins.decoding_inputs, state],
        [*section.headers, *section.tables, *section.answers, *section.verdicts, section.baselines, state],
        api_name="compare_layers",
        **MODEL_EVENT,
    )
    wire_stop(backend, section.stop, "compare_layers", [event])
    # The second side follows the SAE every tab uses.
    sae.change(lambda name: gr.update(value=name), sae, section.saes[1], **private("layers_follow_sae"))
