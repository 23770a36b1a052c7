"""The Steering tab's Chat section: the visitor writes turn after turn; each turn is answered by the default model,
the steered model (the tab's latents or the instruction's recipe, on every turn) and the prompted model (told the
instruction on every turn), each column showing its own history as the model read it, with the latest verdicts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from saif_ui.service import (
    CHAT_COLUMNS,
    Backend,
    ChatColumn,
    ChatReply,
    Conversation,
    Decoding,
    Partial,
    PromptChoice,
    Session,
    SteerControls,
    renders,
)
from saif_ui.ui.instructions import InstructionsTab
from saif_ui.ui.steering.tab import SteeringTab
from saif_ui.ui.texts import verdict_md
from saif_ui.ui.widgets import MODEL_EVENT, gpu, handler, private, session_of, wire_stop

COLUMNS = {
    "default": "Default (no instruction, no steering)",
    "steered": "Steered (no instruction)",
    "prompted": "Prompted (told the instruction every turn)",
}
SOURCES = [("the latents above", "latents"), ("the instruction's recipe", "recipe")]


@dataclass
class ChatSection:
    source: gr.Radio
    columns: dict[str, tuple[gr.Chatbot, gr.Markdown]]
    message: gr.Textbox
    send_btn: gr.Button
    stop_btn: gr.Button
    reset_btn: gr.Button


def build_chat_section() -> ChatSection:
    gr.Markdown(
        "### Chat\n"
        "A conversation, answered three ways at every turn. **Steered** never sees the instruction: the steering "
        "applies on every turn, over its own history. **Prompted** is told the instruction after each of your "
        "messages (where the Instructions tab puts it), as the screen and the studies told the model. Decoding is the "
        "tab's; a conversation longer than the prompt limit is refused with its length, never cut."
    )
    with gr.Row():
        source = gr.Radio(SOURCES, value="recipe", label="Steer with", elem_id="chat-source")
    columns: dict[str, tuple[gr.Chatbot, gr.Markdown]] = {}
    with gr.Row():
        for column in CHAT_COLUMNS:
            label = COLUMNS[column]
            with gr.Column():
                bot = gr.Chatbot(label=label, height=360, elem_id=f"chat-{column}")
                columns[column] = (bot, gr.Markdown(elem_id=f"chat-verdict-{column}"))
    with gr.Row():
        message = gr.Textbox(
            label="Your message", lines=2, scale=4, placeholder="Write a message…", elem_id="chat-message"
        )
        send_btn = gr.Button("Send", variant="primary", scale=1, elem_id="chat-send")
        stop_btn = gr.Button("Stop", variant="stop", scale=0, elem_id="chat-stop")
        reset_btn = gr.Button("Reset", variant="secondary", scale=1, elem_id="chat-reset")
    return ChatSection(source, columns, message, send_btn, stop_btn, reset_btn)


def column_views(reply: ChatReply | None, session: Session, checker: str | None) -> list[Any]:
    """Each column's messages (as that column's model read them) and its verdict line over the turns so far."""
    convo = session.conversation
    out: list[Any] = []
    for column in CHAT_COLUMNS:
        if convo is None or not convo.turns:
            out += [[], ""]
            continue
        latest = convo.turns[-1].answers[column]
        followed = sum(bool(t.answers[column].strict) for t in convo.turns)
        tally = f"follows in {followed} of {len(convo.turns)} turns · " if checker else ""
        stopped = " · stopped" if reply is not None and reply.stopped else ""
        out += [_history(convo, column), f"{tally}latest: {verdict_md(latest, checker)}{stopped}"]
    return out


def partial_views(convo: Conversation, message: str, partial: Partial) -> list[Any]:
    """Each column's messages with the new turn as it is written (its verdict line empty until it is whole)."""
    out: list[Any] = []
    for column in CHAT_COLUMNS:
        said = convo.messages(column, message)[-1]["content"]
        writing = [{"role": "user", "content": said}, {"role": "assistant", "content": partial.texts.get(column, "")}]
        out += [_history(convo, column) + writing, ""]
    return out


def _history(convo: Conversation, column: ChatColumn) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for turn in convo.turns:
        said = convo.messages(column, turn.user)[-1]["content"]  # with the instruction in the prompted column
        messages += [{"role": "user", "content": said}, {"role": "assistant", "content": turn.answers[column].text}]
    return messages


def wire_chat(
    backend: Backend, section: ChatSection, tab: SteeringTab, ins: InstructionsTab, sae: gr.Dropdown, state: gr.State
) -> None:
    views = [c for pair in section.columns.values() for c in pair]

    @gpu("chat")
    @handler
    def send(
        source: str,
        message: str,
        controls: SteerControls,
        choice: PromptChoice,
        sae: str,
        decoding: Decoding,
        state: Session,
        request: gr.Request,
    ) -> Iterator[list[Any]]:
        spec = backend.chat.spec(source, choice, sae, controls, state.discovery)
        convo = state.conversation or backend.chat.start(choice)
        with backend.streams.open(session_of(request), "chat") as stop:
            updates = backend.chat.reply_stream(choice, state.conversation, message, spec, decoding, stop)
            reply = yield from renders(updates, lambda p: [*partial_views(convo, message, p), gr.skip(), gr.skip()])
        state.conversation = reply.conversation
        checker = backend.instructions.resolve(choice).checker
        yield [*column_views(reply, state, checker), "", state]

    inputs = [section.source, section.message, *tab.spec_inputs, *ins.prompt_inputs, sae, *tab.decoding_inputs, state]
    outputs = [*views, section.message, state]
    sent = section.send_btn.click(send, inputs, outputs, api_name="chat", **MODEL_EVENT)
    submitted = section.message.submit(send, inputs, outputs, **private("chat_submit"), **MODEL_EVENT)
    wire_stop(backend, section.stop_btn, "chat", [sent, submitted])

    def reset(state: Session) -> list[Any]:
        state.conversation = None
        return [*column_views(None, state, None), state]

    section.reset_btn.click(reset, [state], [*views, state], api_name="chat_reset")
