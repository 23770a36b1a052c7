"""The Train panel through the app's API, as a browser uses it: a training queued and run in the background, its
status and curve polled, the new SAE selectable by its visitor only, a second request refused while one runs, Stop
honoured, and bad forms answered with their message."""

from __future__ import annotations

import time

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

TINY = {"layer": 2, "method": "fast", "arch": "topk", "d_sae": 64, "sparsity": 8, "tokens": 4096, "seed": 0}
"""Four steps of 1,024 samples on a 1,365-token harvest: seconds of training, the rest is the held-out report."""


def poll(client: Client, until: tuple[str, ...], timeout: float = 600) -> tuple:
    deadline = time.monotonic() + timeout
    while True:
        out = client.predict(api_name="/training_status")
        if any(word in out[0] for word in until) or time.monotonic() > deadline:
            return out
        time.sleep(1)


@pytest.fixture(scope="module")
def client(served) -> Client:
    return Client(served[1].local_url, verbose=False)


def test_a_training_runs_in_the_background_and_its_sae_is_its_visitors(served, client) -> None:
    status, _ = client.predict(**TINY, api_name="/train_sae")
    assert "FAST L2 topk d_sae 64" in status and ("queued" in status or "running" in status)
    with pytest.raises(AppError, match=r"still (queued|running)"):
        client.predict(**TINY, api_name="/train_side_by_side")  # one training per visitor at a time
    other = Client(served[1].local_url, verbose=False)
    other.predict(api_name="/sae_details")  # the rest of the app keeps answering meanwhile
    status, figure, result, _, table, *_ = poll(client, ("done", "failed", "stopped"))
    assert "done in" in status and "attached for you" in status, status
    name = status.split("**")[3]
    assert name.startswith("trained_fast_L2_topk64_")
    assert name in [row[0] for row in result["data"]]  # its quality row
    assert name in [row[0] for row in table["data"]]  # and the SAEs table lists it
    assert figure is not None  # the curve the training recorded
    client.predict(sae=name, api_name="/sae_details")  # selectable for its visitor
    with pytest.raises(AppError, match="not in the list of choices"):
        other.predict(sae=name, api_name="/sae_details")  # and for nobody else
    manifest = served[0].saes[name].source
    assert manifest.endswith(name)


def test_stop_ends_a_running_training_and_keeps_nothing(served) -> None:
    alice = Client(served[1].local_url, verbose=False)
    before = {n for n in served[0].saes if n.startswith("trained_")}
    alice.predict(**{**TINY, "tokens": 200_000}, api_name="/train_sae")
    poll(alice, ("running: train",), timeout=300)
    assert "Nothing to stop" not in alice.predict(api_name="/stop_training")
    status = poll(alice, ("stopped", "done", "failed"))[0]
    assert "stopped during train" in status and "nothing was kept" in status, status
    assert {n for n in served[0].saes if n.startswith("trained_")} == before
    assert "Nothing to stop" in alice.predict(api_name="/stop_training")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layer": 99}, "greater than maximum value 29"),  # the layer box's own bound
        ({"d_sae": 10**6}, "d_sae must be in 64..8192"),
        ({"tokens": 10**10}, "token budget must be in"),
        ({"arch": "topk", "sparsity": 1000}, "k must be a whole number in 1..d_sae"),
        ({"sparsity": -1}, "must be a positive number"),
        ({"method": "blocks"}, "not in the list of choices"),  # the radio's own check
    ],
)
def test_bad_forms_get_their_message(client, change, message) -> None:
    with pytest.raises(AppError, match=message):
        client.predict(**{**TINY, **change}, api_name="/train_sae")
