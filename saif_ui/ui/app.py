"""Build and launch the Gradio app around the shared engine: a header with the SAE choice, the demos first, five tabs
and a playground, a share bar."""

from __future__ import annotations

import os
from typing import Any

# Before gradio is imported: no analytics calls from an offline machine or a Space.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from saif_ui.service import Backend, Engine, Session, get_engine
from saif_ui.ui.demos import build_demo_section, wire_demos
from saif_ui.ui.findings import DOCS, build_findings_tab
from saif_ui.ui.instructions import DEFAULT_INSTRUCTION, build_instructions_tab, wire_discovery
from saif_ui.ui.latents import build_latents_tab
from saif_ui.ui.layers_compare import build_layer_section, wire_layer_section
from saif_ui.ui.playground import build_playground_tab
from saif_ui.ui.saes import build_saes_tab
from saif_ui.ui.share import build_share_bar, wire_share
from saif_ui.ui.steering.chat import build_chat_section, wire_chat
from saif_ui.ui.steering.distil import build_distil_section, wire_distil
from saif_ui.ui.steering.joint import build_joint_section, wire_joint
from saif_ui.ui.steering.steer import wire_recipe, wire_steer
from saif_ui.ui.steering.sweep import wire_sweep
from saif_ui.ui.steering.tab import build_steering_tab
from saif_ui.ui.widgets import session_of, wire_stop

TITLE = "saif_ui — instruction-following latents"
CSS = """
.saif-context { margin: 3px 0; font-family: var(--font-mono); font-size: 0.9em; line-height: 1.7; }
#compliance p { margin: 0.2em 0; }
#findings td:nth-child(n+4) { overflow-wrap: normal; white-space: nowrap; }
"""


def header(backend: Backend) -> gr.Dropdown:
    info = backend.engine_info()
    with gr.Row(equal_height=True):
        gr.Markdown(
            f"# {TITLE}\nFind the SAE latents that carry an instruction, see why, and steer with them. "
            f"Model **{info['model']}** ({info['n_layers']} layers) on {info['device']} / {info['dtype']}.",
            elem_id="title",
        )
        sae = gr.Dropdown(
            backend.saes.choices(),
            value=backend.saes.default(),
            label="SAE (layer) used by every tab",
            elem_id="sae",
            scale=0,
            min_width=280,
        )
    return sae


def build_demo(engine: Engine) -> gr.Blocks:
    """The app's Blocks for an already loaded engine (nothing is built at import)."""
    backend = Backend(engine)
    gr.set_static_paths([DOCS])  # the Findings tab's figures
    with gr.Blocks(title=TITLE) as demo:
        state = gr.State(Session())
        sae = header(backend)
        with gr.Accordion("Demos: one click to a steered answer", open=True, elem_id="demos"):
            demos = build_demo_section(backend)
        with gr.Tabs():
            with gr.Tab("1 · Instructions", id="instructions", elem_id="tab-instructions"):
                ins = build_instructions_tab(backend, state, backend.default_system_prompt)
            with gr.Tab("2 · Latents", id="latents", elem_id="tab-latents"):
                lat = build_latents_tab(backend, state, sae, ins)
                layers = build_layer_section(backend)
            with gr.Tab("3 · Steering", id="steering", elem_id="tab-steering"):
                steer = build_steering_tab(backend, backend.saes.default(), state, DEFAULT_INSTRUCTION)
                chat = build_chat_section()
                joint = build_joint_section(backend)
                distil = build_distil_section(backend)
            with gr.Tab("4 · SAEs", id="saes", elem_id="tab-saes"):
                build_saes_tab(backend, sae)
            with gr.Tab("5 · Findings", id="findings", elem_id="tab-findings"):
                build_findings_tab()
            with gr.Tab("Playground", id="playground", elem_id="tab-playground"):
                build_playground_tab(backend)
        bar = build_share_bar()
        discovery = wire_discovery(backend, ins, sae, state, lat.table, lat.flagged)
        assert lat.follow_discovery is not None
        lat.follow_discovery(discovery)
        steer_events = [
            wire_steer(backend, steer, ins, sae, state, discovery),
            wire_recipe(backend, steer, ins, sae, state),
        ]
        wire_stop(backend, steer.steer_stop, "steer", steer_events)
        wire_chat(backend, chat, steer, ins, sae, state)
        wire_sweep(backend, steer, ins, sae, state)
        wire_joint(backend, joint, steer, ins, sae, state)
        wire_distil(backend, distil, steer, ins, sae, state)
        wire_layer_section(backend, layers, ins, sae, state)
        wire_demos(backend, demos)
        wire_share(backend, bar, ins, lat, steer, sae, state, demo, chat)

        def leave(request: gr.Request) -> None:
            # The tab closed: what this visitor attached and their running job go with them.
            backend.end_session(session_of(request))

        demo.unload(leave)
    return demo


def launch_kwargs() -> dict[str, Any]:
    """Theme, CSS and served paths (in gradio 6 these go to `launch()`, not `Blocks()`)."""
    return {"theme": gr.themes.Soft(), "css": CSS, "allowed_paths": [str(DOCS)]}


def launch(port: int | None = None) -> None:
    """Load the engine from `SAIF_*` settings and serve (127.0.0.1:7860 unless GRADIO_SERVER_* say otherwise)."""
    demo = build_demo(get_engine())
    demo.queue(default_concurrency_limit=8).launch(
        server_port=port or int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        show_error=True,
        **launch_kwargs(),
    )
