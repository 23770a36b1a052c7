"""Instructions tab: pick or write an instruction, pick or paste a content, see the exact prompts and the model's
answers with and without the instruction, and run discovery (SAIF Stage 1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from saif_ui.service import (
    CUSTOM,
    DEFAULT_POSITIONS,
    DEFAULT_SCORE,
    POSITIONS,
    SCORES,
    Backend,
    Decoding,
    DiscoveryResult,
    PromptChoice,
    Session,
    renders,
)
from saif_ui.ui.tables import latent_table
from saif_ui.ui.texts import answer_and_verdict, compliance_md, instruction_md, partial_answers
from saif_ui.ui.widgets import (
    MODEL_EVENT,
    TRACK_TQDM,
    gpu,
    handler,
    private,
    sampling_controls,
    session_of,
    user_errors,
    wire_stop,
)

DEFAULT_INSTRUCTION = "french"
ANSWERED = ("original", "prompted")
"""The answers the tab shows, without and with the instruction."""
DEFAULT_N_CONTENTS = 48
"""The library's default, so the app hits discovery results already cached by the CLI."""


@dataclass
class InstructionsTab:
    instruction: gr.Dropdown
    custom_text: gr.Textbox
    checker: gr.Dropdown
    about: gr.Markdown
    compliance: gr.Markdown
    content_pick: gr.Dropdown
    content: gr.Textbox
    placement: gr.Radio
    system_prompt: gr.Checkbox
    positive: gr.Textbox
    negative: gr.Textbox
    answer_tokens: gr.Slider
    sampling: dict[str, Any]
    """The other decoding knobs of the answers (and the layer comparison), by `Decoding` field."""
    answer_stop: gr.Button
    """Stops the two answers as they are written."""
    without: gr.Textbox
    without_verdict: gr.Markdown
    with_: gr.Textbox
    with_verdict: gr.Markdown
    n_contents: gr.Slider
    top_k: gr.Slider
    positions: gr.Dropdown
    score: gr.Dropdown
    discover_btn: gr.Button
    stop_btn: gr.Button
    status: gr.Markdown

    @property
    def instruction_inputs(self) -> list[Any]:
        return [self.instruction, self.custom_text, self.checker]

    @property
    def prompt_inputs(self) -> list[Any]:
        """Instruction, content, placement and system prompt: what a prompt pair depends on."""
        return [*self.instruction_inputs, self.content, self.placement, self.system_prompt]

    @property
    def decoding_inputs(self) -> list[Any]:
        """The answers' decoding controls in the order of `Decoding`'s fields (a handler receives one `Decoding`)."""
        return [self.answer_tokens, *self.sampling.values()]


def build_instructions_tab(backend: Backend, state: gr.State, engine_system_prompt: bool) -> InstructionsTab:
    """Layout and the tab's own events (everything but discovery, which feeds other tabs: `wire_discovery`)."""
    first_content = backend.instructions.content_choices()[0][1]
    start_positive, start_negative = backend.instructions.prompts(
        PromptChoice(
            DEFAULT_INSTRUCTION,
            content=backend.instructions.content_text(first_content),
            system_prompt=engine_system_prompt,
        )
    )
    with gr.Row():
        with gr.Column(scale=1):
            instruction = gr.Dropdown(
                backend.instructions.choices(), value=DEFAULT_INSTRUCTION, label="Instruction", elem_id="instruction"
            )
            custom_text = gr.Textbox(
                "",
                label="Your instruction — one wording per line (the first is used in prompts, the rest are rewordings)",
                lines=3,
                visible=False,
                placeholder="Answer like a pirate.\nTalk like a pirate.\nWrite it the way a pirate would say it.",
                elem_id="custom-text",
            )
            checker = gr.Dropdown(backend.instructions.checker_choices(), value="none", label="Checker", visible=False)
            default = backend.instructions.resolve(PromptChoice(DEFAULT_INSTRUCTION))
            about = gr.Markdown(instruction_md(default))
            compliance = gr.Markdown(compliance_md(default), elem_id="compliance")
        with gr.Column(scale=1):
            content_pick = gr.Dropdown(
                backend.instructions.content_choices(), value=first_content, label="Content (shipped)"
            )
            content = gr.Textbox(
                backend.instructions.content_text(first_content),
                label="Content (edit or paste your own)",
                lines=4,
                elem_id="content",
            )
            with gr.Row():
                placement = gr.Radio(
                    ["post", "pre"], value="post", label="Placement", info="instruction after (post) or before content"
                )
                system_prompt = gr.Checkbox(engine_system_prompt, label="Default system prompt")
            show = gr.Button("Show the prompts", size="sm")
    with gr.Row():
        positive = gr.Textbox(
            start_positive,
            label="Positive prompt (rendered, as the model reads it)",
            lines=6,
            buttons=["copy"],
            elem_id="positive",
        )
        negative = gr.Textbox(
            start_negative, label="Negative prompt (content alone)", lines=6, buttons=["copy"], elem_id="negative"
        )
    with gr.Row():
        answer_tokens = gr.Slider(8, 256, value=48, step=8, label="Max new tokens", scale=3)
        answer_btn = gr.Button("Answer with and without the instruction", variant="secondary", scale=2)
        answer_stop = gr.Button("Stop", variant="stop", size="sm", scale=0, elem_id="answer-stop")
    sampling = sampling_controls("answer-")
    with gr.Row():
        with gr.Column():
            without = gr.Textbox(label="Answer without the instruction", lines=4, elem_id="answer-without")
            without_verdict = gr.Markdown()
        with gr.Column():
            with_ = gr.Textbox(label="Answer with the instruction (prompted)", lines=4, elem_id="answer-with")
            with_verdict = gr.Markdown()
    gr.Markdown("### Discovery — which latents carry the instruction (SAIF Stage 1)")
    with gr.Row():
        n_contents = gr.Slider(4, 144, value=DEFAULT_N_CONTENTS, step=4, label="Contents (prompt pairs)")
        top_k = gr.Slider(5, 50, value=20, step=1, label="Top latents")
        positions = gr.Dropdown(list(POSITIONS), value=DEFAULT_POSITIONS, label="Token positions scored")
        score = gr.Dropdown(list(SCORES), value=DEFAULT_SCORE, label="Score")
    with gr.Row():
        discover_btn = gr.Button("Run discovery", variant="primary", elem_id="discover")
        stop_btn = gr.Button("Stop", variant="stop", size="sm")
    status = gr.Markdown(elem_id="discovery-status")
    tab = InstructionsTab(
        instruction,
        custom_text,
        checker,
        about,
        compliance,
        content_pick,
        content,
        placement,
        system_prompt,
        positive,
        negative,
        answer_tokens,
        sampling,
        answer_stop,
        without,
        without_verdict,
        with_,
        with_verdict,
        n_contents,
        top_k,
        positions,
        score,
        discover_btn,
        stop_btn,
        status,
    )
    _wire_own(backend, tab, state, show, answer_btn)
    return tab


def _wire_own(backend: Backend, tab: InstructionsTab, state: gr.State, show: gr.Button, answer_btn: gr.Button) -> None:
    @user_errors
    def describe(instruction: str, custom_text: str, checker: str) -> tuple[Any, Any, str, str]:
        custom = instruction == CUSTOM
        if custom and not (custom_text or "").strip():
            about, note = "Write one wording per line; the first is used in prompts.", ""
        else:
            instr = backend.instructions.resolve(PromptChoice(instruction, custom_text, checker))
            about, note = instruction_md(instr), compliance_md(instr)
        return gr.update(visible=custom), gr.update(visible=custom), about, note

    gr.on(
        [tab.instruction.change, tab.custom_text.blur, tab.checker.change],
        describe,
        tab.instruction_inputs,
        [tab.custom_text, tab.checker, tab.about, tab.compliance],
        api_name="instruction_info",
    )

    @user_errors
    def content_text(content_id: str) -> str:
        return backend.instructions.content_text(content_id)

    @handler
    def render_prompts(choice: PromptChoice) -> tuple[str, str]:
        return backend.instructions.prompts(choice)

    gr.on(
        [show.click, tab.placement.change, tab.system_prompt.change, tab.instruction.change, tab.content.blur],
        render_prompts,
        tab.prompt_inputs,
        [tab.positive, tab.negative],
        api_name="render_prompts",
    )

    tab.content_pick.input(content_text, tab.content_pick, tab.content, api_name="content_text").success(
        render_prompts, tab.prompt_inputs, [tab.positive, tab.negative], **private("prompts_after_content")
    )

    @gpu("answer")
    @handler
    def answer(
        choice: PromptChoice, decoding: Decoding, state: Session, request: gr.Request
    ) -> Iterator[tuple[Any, ...]]:
        instr = backend.instructions.resolve(choice)
        with backend.streams.open(session_of(request), "answer") as stop:
            updates = backend.instructions.answers_stream(choice, decoding, stop)
            skip = gr.skip()
            data = yield from renders(updates, lambda p: (skip, skip, *partial_answers(p, ANSWERED), skip))
        state.answers = data
        yield (
            data.prompts["prompted"],
            data.prompts["original"],
            *answer_and_verdict(data, "original", instr.checker),
            *answer_and_verdict(data, "prompted", instr.checker),
            state,
        )

    event = answer_btn.click(
        answer,
        [*tab.prompt_inputs, *tab.decoding_inputs, state],
        [tab.positive, tab.negative, tab.without, tab.without_verdict, tab.with_, tab.with_verdict, state],
        api_name="answer",
        **MODEL_EVENT,
    )
    wire_stop(backend, tab.answer_stop, "answer", [event])


def wire_discovery(
    backend: Backend,
    tab: InstructionsTab,
    sae: gr.Dropdown,
    state: gr.State,
    table: gr.Dataframe,
    flagged: gr.Dataframe,
) -> Any:
    """Discovery fills the Latents tab's tables; returns the event so other tabs can follow it with `.success`."""

    @gpu("discover")
    @handler
    def discover(
        choice: PromptChoice,
        sae: str,
        n_contents: float,
        top_k: float,
        positions: str,
        score: str,
        state: Session,
        progress: gr.Progress = TRACK_TQDM,
    ) -> tuple[str, Any, Any, Session]:
        if not sae:
            raise gr.Error("No SAE is attached: add one in the SAEs tab first.")
        progress(0, desc=f"encoding {int(n_contents)} prompt pairs")
        state.discovery = backend.discovery.discover(
            choice, sae, positions=positions, score=score, top_k=int(top_k), n_contents=int(n_contents)
        )
        state.heatmap = state.card = None
        return (
            discovery_status(state.discovery),
            latent_table(state.discovery).frame(),
            (latent_table(state.discovery, flagged=True).frame()),
            state,
        )

    event = tab.discover_btn.click(
        discover,
        [
            *tab.prompt_inputs,
            sae,
            tab.n_contents,
            tab.top_k,
            tab.positions,
            tab.score,
            state,
        ],
        [tab.status, table, flagged, state],
        api_name="discover",
        **MODEL_EVENT,
    )
    tab.stop_btn.click(None, None, None, cancels=[event], **private("stop_discovery"))
    return event


def discovery_status(d: DiscoveryResult | None) -> str:
    """One line about the latest discovery run."""
    if not d:
        return "Run discovery to rank the latents that carry the instruction."
    cached = " · from the cache" if d.cached else ""
    cfg = d.config
    return (
        f"**{len(d.latents)} latents** carry `{d.instruction}` at **{d.sae}** (layer {d.layer}), "
        f"from {d.n_pairs} prompt pairs ({cfg.placement}, positions {cfg.positions}, score {cfg.score}) · "
        f"{len(d.flagged)} special-token or dense latents ranked apart · {d.seconds:.1f} s{cached}. "
        "See the **Latents** tab."
    )
