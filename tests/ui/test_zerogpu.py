"""The app as on a ZeroGPU Space, with a stand-in `spaces` in ZeroGPU mode (`tests.service.test_gpu.StandIn`):
building it makes exactly the events that run the model ask for the GPU, each under its action; gradio's API is the
one it has off ZeroGPU; served, each call asks for the seconds its controls need, its arguments and results cross a
pickled boundary as with ZeroGPU's worker (the page's state carrying discovery to the steer), a streamed answer
comes through, and a refused action tells the visitor why."""

from __future__ import annotations

import json
import re
import sys

import gradio as gr
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from saif_ui.engine.config import shipped_saes
from saif_ui.service import GPU_ACTION
from saif_ui.ui.app import build_demo, launch_kwargs
from tests.service.test_gpu import StandIn
from tests.ui.conftest import free_port

GPU_EVENTS = {
    # the model-bound events (MODEL_EVENT)
    "answer": "answer", "discover": "discover", "heatmap": "heatmap", "umap": "umap", "compute_cards": "cards",
    "compare_layers": "compare_layers", "generate": "generate", "measure_quality": "quality", "demo": "demo",
    "demo_next_run": "demo", "chat": "chat", "chat_submit": "chat", "steer": "steer", "steer_recipe": "steer",
    "steer_joint": "steer_joint", "sweep": "sweep", "ablate": "ablation", "special_grid": "special_grid",
    "sweep_joint": "joint_sweep",
    # reading the weights (a latent's logit lens and neighbours, the SAE's fingerprint for its cached map)
    "latent_card": "latent_card", "card_after_cards": "latent_card", "card_after_discovery": "latent_card",
    "card_from_latents": "latent_card", "card_from_flagged": "latent_card", "heatmap_after_discovery": "heatmap",
    "umap_redraw": "umap_redraw", "umap_after": "umap_redraw", "umap_from_latents": "umap_redraw",
    "umap_from_flagged": "umap_redraw",
    # a share link with latents or a chat reruns discovery and answers
    "load_link": "link",
    # refused on ZeroGPU
    "train_sae": "train", "train_side_by_side": "train", "distil": "distil", "steer_distilled": "steer_distilled",
    "load_registry_sae": "load_sae", "upload_sae": "load_sae",
}  # fmt: skip
"""Every event whose handler asks for the GPU (or is refused there), by api_name, with its action."""


@pytest.fixture(scope="module")
def zero_gpu_demo(engine, tmp_path_factory):
    """(stand-in, demo): the app with the shipped L24 SAE attached and a private cache, built while `import spaces`
    gives the stand-in (the handlers keep it afterwards); everything is put back afterwards."""
    old_cache, before = engine.config.cache_dir, set(engine.saes)
    engine.config.cache_dir = tmp_path_factory.mktemp("zerogpu-cache")
    engine.add_sae(next(s for s in shipped_saes() if s.endswith("L24_fast_topk64")))
    stand_in = StandIn()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setitem(sys.modules, "spaces", stand_in)
            demo = build_demo(engine)
        yield stand_in, demo
    finally:
        for name in set(engine.saes) - before:
            engine.remove_sae(name)
        engine.config.cache_dir = old_cache


def test_exactly_the_events_that_run_the_model_ask_for_the_gpu(zero_gpu_demo) -> None:
    stand_in, demo = zero_gpu_demo
    events = [f for f in demo.fns.values() if f.fn is not None]
    actions = {f.api_name: getattr(f.fn, GPU_ACTION, None) for f in events}
    assert {name: action for name, action in actions.items() if action} == GPU_EVENTS
    assert all(actions[f.api_name] for f in events if f.concurrency_id == "model")  # no model event left out
    for pure in ("instruction_info", "render_prompts", "content_text", "share_link", "export_json", "export_csv"):
        assert actions[pure] is None
    for pure in ("import_json", "sae_details", "training_status", "distil_status", "stop_sweep", "findings"):
        assert actions[pure] is None
    # each handler was handed to spaces.GPU once (the refused ones never), under its action
    wrapped = {(name, duration.action) for name, duration in stand_in.wrapped}
    assert len(wrapped) == len(stand_in.wrapped) == 20
    refused = {"train", "distil", "steer_distilled", "load_sae"}
    assert {action for _, action in wrapped} == set(GPU_EVENTS.values()) - refused


def api(demo: gr.Blocks) -> str:
    """The API page's content (endpoints, parameter names, defaults, types); an unlabelled component's label is
    named after its id, which differs from build to build."""
    return re.sub(r"value_\d+", "value_#", json.dumps(demo.get_api_info(), sort_keys=True))


def test_gradio_shows_the_same_api_as_off_zero_gpu(engine, zero_gpu_demo) -> None:
    _, demo = zero_gpu_demo
    assert api(demo) == api(build_demo(engine))
    assert '"parameter_name": "max_new_tokens"' in api(demo)  # the handlers' own parameters, not (*args, **kwargs)


def test_served_each_call_asks_for_its_seconds_its_state_crosses_and_a_training_is_refused(zero_gpu_demo) -> None:
    stand_in, demo = zero_gpu_demo
    demo.queue().launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, **launch_kwargs()
    )
    try:
        client = Client(demo.local_url, verbose=False)
        before = len(stand_in.calls)
        rendered, answer = client.predict(text="Name a colour.", max_new_tokens=8, api_name="/generate")
        assert "Name a colour." in rendered and answer.strip()
        # one answer of 8 tokens after the 15 s start
        assert stand_in.calls[before:] == [("generate", 16)]
        client.predict("french", "", "none", "Water boils.", "post", False, api_name="/render_prompts")
        assert len(stand_in.calls) == before + 1  # a pure event asks for nothing
        with pytest.raises(AppError, match="background thread"):
            client.predict(api_name="/train_sae")
        assert len(stand_in.calls) == before + 1
        # the page's state crosses the process boundary both ways: steering uses the discovery it carries back
        status, table, _ = client.predict(instruction="french", n_contents=4, top_k=5, api_name="/discover")
        top = [str(row[1]) for row in table["data"][:3]]
        assert "french" in status and len(top) == 3
        out = client.predict(latents=top, alpha=1.0, max_new_tokens=8, api_name="/steer")
        assert out[2] and json.loads(out[-1])["latents"][0]["mean_act"] > 0
        # discovery of 4 contents after the 15 s start; the steer's four answers of 8 tokens after 20 s
        assert stand_in.calls[before + 1 :] == [("discover", 17), ("steer", 21)]
    finally:
        demo.close()
