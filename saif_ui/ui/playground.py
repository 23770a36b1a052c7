"""Playground tab: the engine's facts and a prompt box that generates with the chat template."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr

from saif_ui.service import Backend, Decoding, renders
from saif_ui.ui.widgets import MODEL_EVENT, gpu, handler, sampling_controls, session_of, wire_stop


def info_markdown(info: dict[str, Any]) -> str:
    """Engine facts as a Markdown table (pure: tested without gradio)."""
    rows = [
        ("Model", info["model"]),
        ("Architecture", f"{info['architecture']} · {info['n_layers']} layers · d_model {info['d_model']}"),
        ("Device / dtype", f"{info['device']} / {info['dtype']}"),
        ("Default system prompt", "on" if info["default_system_prompt"] else "off"),
        ("Cache directory", f"`{info['cache_dir']}`"),
        ("Load time", f"{info['load_seconds']} s" + (" (converted the GGUF)" if info["converted_on_load"] else "")),
    ]
    saes = info["saes"]
    rows.append(("SAEs", ", ".join(f"{s['name']} (layer {s['layer']}, {s['d_sae']} latents)" for s in saes) or "none"))
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def build_playground_tab(backend: Backend) -> None:
    """Add the tab's components and events to the current Blocks."""
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=4, placeholder="Translate into French: The cat sleeps.")
            with gr.Row():
                max_new = gr.Slider(1, 256, value=64, step=1, label="Max new tokens")
                system = gr.Checkbox(value=backend.default_system_prompt, label="Default system prompt")
            sampling = sampling_controls("generate-")
            with gr.Row():
                run = gr.Button("Generate", variant="primary")
                stop = gr.Button("Stop", variant="stop", size="sm", scale=0, elem_id="generate-stop")
        with gr.Column(scale=2):
            gr.Markdown(info_markdown(backend.engine_info()))
    rendered = gr.Textbox(label="Rendered prompt (exactly what the model reads)", lines=4, interactive=False)
    answer = gr.Textbox(label="Answer", lines=6, interactive=False)

    @gpu("generate")
    @handler
    def generate(text: str, system_prompt: bool, decoding: Decoding, request: gr.Request) -> Iterator[tuple[Any, str]]:
        with backend.streams.open(session_of(request), "generate") as flag:
            updates = backend.generate_stream(text, decoding, system_prompt, flag)
            full, written = yield from renders(updates, lambda p: (gr.skip(), p.texts["answer"]))
        yield full, written

    event = gr.on(
        [run.click, prompt.submit],
        generate,
        [prompt, system, max_new, *sampling.values()],
        [rendered, answer],
        api_name="generate",
        **MODEL_EVENT,
    )
    wire_stop(backend, stop, "generate", [event])
