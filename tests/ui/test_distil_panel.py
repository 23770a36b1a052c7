"""The Steering tab's Distil panel through the app's API, as a browser uses it, at a tiny budget (two training
contents, three steps): the estimate said before a start, a run in the background polled until done with its loss and
checks, the result as chips, reading and latents, steerable at once and loadable into the steering controls; bad
forms and asking too early answered with their message."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from saif_ui.service import distil as service_distil
from saif_ui.ui.app import build_demo, launch_kwargs
from saif_ui.ui.train import minutes
from tests.conftest import TINY_DISTIL as TINY
from tests.ui.conftest import free_port

FORM = {"instruction": "french", "layer": 24, "basis": "sae", "steps": 3}


@pytest.fixture(scope="module")
def client(engine, l24):
    """The app around the engine with the L24 SAE attached, every distillation at the tiny budget."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service_distil, "BASE", TINY)
        demo = build_demo(engine)
    demo.queue().launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, **launch_kwargs()
    )
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def poll(client: Client, timeout: float = 180) -> tuple:
    deadline = time.monotonic() + timeout
    while True:
        out = client.predict(api_name="/distil_status")
        if not any(word in out[0] for word in ("queued", "running")) or time.monotonic() > deadline:
            return out
        time.sleep(1)


def test_before_a_run_the_panel_says_its_time_and_has_nothing_to_steer_with(client, engine) -> None:
    estimate = client.predict(layer=24, basis="free", steps=60, api_name="/distil_estimate")
    # the service's estimate for the panel's budget (the tiny one here), said in the panel's units
    seconds = service_distil.estimate_seconds(replace(TINY, layer=24, basis="free", steps=60), engine.n_layers)
    assert seconds > 0 and f"Estimated time on the 2-core machine: about **{minutes(seconds)}**" in estimate
    assert "has no attached SAE" in client.predict(layer=3, basis="sae", steps=60, api_name="/distil_estimate")
    assert "No distillation yet" in client.predict(api_name="/distil_status")[0]
    assert "Nothing to stop" in client.predict(api_name="/stop_distil")
    with pytest.raises(AppError, match="no distilled vector yet"):
        client.predict(api_name="/steer_distilled")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layer": 8}, "layer 8 has no attached SAE"),
        ({"instruction": "custom"}, "pick a catalogue instruction"),
        ({"steps": 500}, "greater than maximum value"),  # the slider's own bound
        ({"basis": "dense"}, "not in the list of choices"),  # the radio's own check
    ],
)
def test_bad_forms_get_their_message(client, change, message) -> None:
    with pytest.raises(AppError, match=message):
        client.predict(**{**FORM, **change}, api_name="/distil")


def test_a_distillation_runs_in_the_background_and_steers_at_once(client) -> None:
    status, _ = client.predict(**FORM, api_name="/distil")
    assert "french · sae · L24 · 3 steps" in status and ("queued" in status or "running" in status)
    with pytest.raises(AppError, match=r"still (queued|running)"):
        client.predict(**FORM, api_name="/distil")  # one per visitor at a time
    status, figure, checks, chips, reading, latents, *_ = poll(client)
    assert "done in" in status and "best step" in status, status
    loss = json.loads(figure["plot"])["data"][0]
    assert loss["name"] == "loss" and loss["x"] == [1, 2, 3]
    assert checks["data"] and all(row[1] == 1 for row in checks["data"])  # one validation content per check
    assert "made of" in chips and "`#" in chips
    assert "SAIF overlap" in reading and "Effect at" in reading
    assert latents["data"] and len(latents["data"][0]) == 4
    out = client.predict(content="The library opens at nine.", max_new_tokens=8, api_name="/steer_distilled")
    assert len(out) == 6 and all(isinstance(x, str) for x in out) and out[0] and out[4]
    sae, picker, alpha, *_ = client.predict(api_name="/load_distilled")
    assert sae.startswith("L24") and picker and alpha > 0
