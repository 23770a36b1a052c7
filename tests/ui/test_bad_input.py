"""Bad input, as a table: each case sent through the real API (gradio_client against the served app) gets its own
clear message, and the server answers the next good request after every one."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.conftest import random_sae

GOOD = "The cat sat on the mat and looked at the rain."
PROMPT = {"instruction": "french", "content": GOOD}
UNIT = {"scale": "unit", "max_new_tokens": 8, **PROMPT}
"""Steering by unit directions needs no discovery run: each steer case stands alone."""

CASES: list[tuple[str, str, dict, str]] = [
    # ---- contents and texts
    ("empty content", "/render_prompts", {"instruction": "french", "content": ""}, "the content is empty"),
    ("whitespace content", "/answer", {"instruction": "french", "content": " \n\t "}, "the content is empty"),
    ("huge content", "/answer", {"instruction": "french", "content": "x" * 200_000}, "200,000 characters; at most"),
    ("long content", "/answer", {"instruction": "french", "content": "word " * 1500}, "tokens .*; the limit is 1,024"),
    ("NUL in content", "/answer", {"instruction": "french", "content": "Hi\x00there"}, "control character U\\+0000"),
    ("escape in content", "/render_prompts", {"instruction": "french", "content": "\x1b[31mred"}, "U\\+001B"),
    ("bell in instruction", "/render_prompts",
     {"instruction": "custom", "custom_text": "Be\x07loud.", "content": GOOD}, "the instruction holds"),
    ("empty custom", "/answer", {"instruction": "custom", "custom_text": "  ", "content": GOOD}, "write your instr"),
    ("custom equal to content", "/render_prompts",
     {"instruction": "custom", "custom_text": GOOD, "content": GOOD}, "same text as the content"),
    ("empty playground prompt", "/generate", {"text": "   "}, "Write a prompt first"),
    ("huge playground prompt", "/generate", {"text": "y" * 100_000}, "the prompt is 100,000 characters; at most"),
    ("NUL playground prompt", "/generate", {"text": "a\x00b"}, "control character U\\+0000"),
    # ---- choices that do not exist
    ("unknown instruction", "/answer", {"instruction": "klingon", "content": GOOD}, "not in the list of choices"),
    ("unknown checker", "/render_prompts",
     {"instruction": "custom", "custom_text": "Shout.", "checker": "nope", "content": GOOD}, "list of choices"),
    ("unknown SAE", "/sae_details", {"sae": "L99_nope"}, "not in the list of choices"),
    ("unknown SAE for a map", "/umap", {"sae": "L99_nope", "latent": 1}, "not in the list of choices"),
    ("unknown placement", "/render_prompts", {**PROMPT, "placement": "middle"}, "list of choices"),
    ("unknown content id", "/content_text", {"content_id": "nope"}, "not in the list of choices"),
    ("unknown positions", "/steer", {**UNIT, "latents": ["5"], "positions": "middle"}, "list of choices"),
    ("unknown scale", "/steer", {**UNIT, "latents": ["5"], "scale": "huge"}, "list of choices"),
    # ---- latent ids
    ("negative latent", "/steer", {**UNIT, "latents": ["-3"]}, "'-3' is not one"),
    ("latent beyond d_sae", "/steer", {**UNIT, "latents": ["99999"]}, "out of range"),
    ("fractional latent", "/steer", {**UNIT, "latents": ["1.5"]}, "'1.5' is not one"),
    ("word as latent", "/steer", {**UNIT, "latents": ["x7"]}, "'x7' is not one"),
    ("duplicated latent", "/steer", {**UNIT, "latents": ["5", "5"]}, "listed twice"),
    ("no latent", "/steer", {**UNIT, "latents": []}, "choose at least one latent"),
    ("65 latents", "/steer", {**UNIT, "latents": [str(i) for i in range(65)]}, "at most 64 latents"),
    ("card of latent 1e9", "/latent_card", {"sae": "L24_fast_topk64", "latent": 10**9}, "whole numbers 0..4095"),
    ("map highlight 1e9", "/umap", {"sae": "L24_fast_topk64", "latent": 10**9}, "whole numbers 0..4095"),
    ("negative card latent", "/latent_card", {"sae": "L24_fast_topk64", "latent": -1}, "minimum"),
    # ---- α and strengths
    ("α 1e30", "/steer", {**UNIT, "latents": ["5"], "alpha": 1e30}, "within ±1000"),
    ("α -1e30", "/steer", {**UNIT, "latents": ["5"], "alpha": -1e30}, "within ±1000"),
    ("huge strength", "/steer", {**UNIT, "latents": ["5"], "strengths": [1e9]}, "within ±100"),
    ("too many strengths", "/steer", {**UNIT, "latents": ["5"], "strengths": [1, 2]}, "2 strengths for 1 latents"),
    ("negative decay", "/steer", {**UNIT, "latents": ["5"], "decay": -1}, "minimum"),
    ("max tokens 100000", "/steer", {**UNIT, "latents": ["5"], "max_new_tokens": 100_000}, "maximum"),
    ("sweep α words", "/sweep", {**UNIT, "latents": ["5"], "alphas": "a, b"}, "must be numbers"),
    ("sweep α infinite", "/sweep", {**UNIT, "latents": ["5"], "alphas": "1e400"}, "must be finite"),
    ("sweep of 30 α", "/sweep", {**UNIT, "latents": ["5"], "alphas": " ".join(map(str, range(30)))}, "at most 24"),
    ("sweep without α", "/sweep", {**UNIT, "latents": ["5"], "alphas": " "}, "at least one"),
    ("grid α 1e30", "/special_grid",
     {"sae": "L24_fast_topk64", "latent": "", "alphas": "1e30", "max_new_tokens": 8}, "within ±1000"),
    ("grid of two latents", "/special_grid",
     {"sae": "L24_fast_topk64", "latent": "1 2", "alphas": "0", "max_new_tokens": 8}, "one special-token latent"),
    # ---- registry ids
    ("empty registry id", "/load_registry_sae", {"source": " "}, "release/sae_id"),
    ("path as registry id", "/load_registry_sae", {"source": "../etc/passwd"}, "release/sae_id"),
    ("registry id offline", "/load_registry_sae", {"source": "gemma-scope-2-270m-it-res/layer_12"}, "offline"),
]  # fmt: skip


@pytest.fixture(scope="module")
def client(served):
    return Client(served[1].local_url, verbose=False)


def still_serving(client: Client) -> None:
    pos, neg = client.predict(**PROMPT, api_name="/render_prompts")
    assert GOOD in pos and GOOD in neg


@pytest.mark.parametrize(("case", "api", "kwargs", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_its_message_and_the_server_keeps_serving(client, case, api, kwargs, message) -> None:
    with pytest.raises(AppError, match=message):
        client.predict(**kwargs, api_name=api)
    still_serving(client)


def test_right_to_left_text_and_emoji_are_answered(client) -> None:
    for content in ("مرحبا بالعالم، القطة نائمة.", "The cat 🐈 sleeps 😴 on the mat."):
        out = client.predict(instruction="french", content=content, max_new_tokens=8, api_name="/answer")
        assert content in out[0] and out[2]  # the prompted prompt holds it; the original answer is not empty


# ---------------------------------------------------------------- uploads


def sae_files(tmp_path: Path, name: str, d_in: int = 576, hook: str = "blocks.20.hook_resid_post") -> list[Path]:
    folder = tmp_path / name
    random_sae(d_in, 32, hook).save_model(str(folder))
    return [folder / "cfg.json", folder / "sae_weights.safetensors"]


def edit(path: Path, change) -> None:
    cfg = json.loads(path.read_text())
    change(cfg)
    path.write_text(json.dumps(cfg))


def wrong_shapes(files: list[Path]) -> None:
    edit(files[0], lambda c: c.update(d_sae=64))


def null_field(files: list[Path]) -> None:
    edit(files[0], lambda c: c.update(d_in=None))


def non_finite(files: list[Path]) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(files[1]))
    tensors["W_enc"][0, 0] = float("nan")
    save_file(tensors, str(files[1]))


def pickled(files: list[Path]) -> None:
    files[1].write_bytes(pickle.dumps({"W_enc": torch.zeros(2)}))


def layer_out_of_range(files: list[Path]) -> None:
    edit(files[0], lambda c: c["metadata"].update(hook_name="blocks.64.hook_resid_post"))


def deep_cfg(files: list[Path]) -> None:
    files[0].write_text("[" * 200 + "]" * 200)


UPLOADS = [
    ("wrong shapes", wrong_shapes, "W_enc has shape \\(576, 32\\); cfg.json's sizes need \\(576, 64\\)"),
    ("d_in mismatch", None, "d_in=64 but the model's residual width is 576"),
    ("null field", null_field, "'d_in' in cfg.json must be the residual width, a whole number, not null"),
    ("non-finite weights", non_finite, "W_enc holds NaN or infinite values"),
    ("pickle as safetensors", pickled, "not a safetensors file"),
    ("layer out of range", layer_out_of_range, "model has layers 0..29"),
    ("deeply nested cfg", deep_cfg, "nests 33 levels deep"),
]


@pytest.mark.parametrize(("case", "corrupt", "message"), UPLOADS, ids=[u[0] for u in UPLOADS])
def test_bad_uploads_are_refused_and_nothing_is_copied(client, served, tmp_path, case, corrupt, message) -> None:
    files = sae_files(tmp_path, "sae", d_in=64 if corrupt is None else 576)
    if corrupt is not None:
        corrupt(files)
    with pytest.raises(AppError, match=message):
        client.predict([handle_file(str(p)) for p in files], api_name="/upload_sae")
    uploads = served[0].config.cache_dir / "uploads"
    assert not uploads.exists() or not [p for p in uploads.iterdir() if p.name.startswith(".")]
    still_serving(client)


def test_upload_file_sets(client, tmp_path) -> None:
    files = sae_files(tmp_path, "sae")
    with pytest.raises(AppError, match="exactly two files"):
        client.predict([handle_file(str(files[0]))], api_name="/upload_sae")
    with pytest.raises(AppError, match="exactly two files"):
        client.predict([handle_file(str(files[0]))] * 2, api_name="/upload_sae")
    still_serving(client)


def test_an_upload_is_visible_to_its_visitor_only(served, tmp_path) -> None:
    alice = Client(served[1].local_url, verbose=False)
    bob = Client(served[1].local_url, verbose=False)
    files = sae_files(tmp_path, "private", hook="blocks.12.hook_resid_post")
    _, table, status = alice.predict([handle_file(str(p)) for p in files], api_name="/upload_sae")
    name = status.split("**")[1]
    assert name.startswith("upload_") and "visible to you only" in status
    assert name in [row[0] for row in table["data"]]
    alice.predict(sae=name, api_name="/sae_details")  # alice can use it
    with pytest.raises(AppError, match="not in the list of choices"):
        bob.predict(sae=name, api_name="/sae_details")  # bob cannot, even knowing its name
    assert name in served[0].saes


# ---------------------------------------------------------------- memory under the worst inputs

WORST = [
    ("/answer", {"instruction": "french", "content": "x" * 2_000_000}),
    ("/answer", {"instruction": "french", "content": "word " * 200_000}),
    ("/steer", {**UNIT, "latents": ["5"], "content": "z " * 500_000}),
    ("/render_prompts", {"instruction": "french", "content": "q" * 2_000_000}),
    ("/generate", {"text": "w " * 1_000_000}),
    ("/sweep", {**UNIT, "latents": ["5"], "alphas": "1 " * 100_000}),
    ("/steer", {**UNIT, "latents": [str(i) for i in range(100_000)]}),
]
"""Requests that once grew a server to 19 GB (a 200,000-character content), and their bigger cousins."""


def test_the_worst_inputs_leave_memory_bounded(client, tmp_path) -> None:
    """Each worst input is refused before the model runs; the server's resident size, sampled every 20 ms while
    they are sent three times over, stays within 300 MB of where it started."""
    import threading

    import psutil

    proc = psutil.Process()
    still_serving(client)
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"format": "saif_ui.exploration", "version": 1, "latents": list(range(600_000))}))
    try:
        for _ in range(3):
            for api, kwargs in WORST:
                with pytest.raises(AppError):
                    client.predict(**kwargs, api_name=api)
            with pytest.raises(AppError, match=r"limit is 4 MB|at most 64"):
                client.predict(handle_file(str(huge)), api_name="/import_json")
    finally:
        done.set()
        sampler.join()
    still_serving(client)
    assert peak[0] - base < 300 * 2**20, f"peak {peak[0] / 2**20:.0f} MB from {base / 2**20:.0f} MB"


def test_what_a_visitor_attached_goes_when_they_leave(served, tmp_path) -> None:
    import time

    carol = Client(served[1].local_url, verbose=False)
    files = sae_files(tmp_path, "leaving", hook="blocks.10.hook_resid_post")
    status = carol.predict([handle_file(str(p)) for p in files], api_name="/upload_sae")[-1]
    name = status.split("**")[1]
    folder = served[0].saes[name].source
    assert name in served[0].saes
    carol.close()  # the tab closes: gradio's heartbeat ends and the app's unload handler runs
    deadline = time.monotonic() + 60
    while name in served[0].saes and time.monotonic() < deadline:
        time.sleep(0.2)
    assert name not in served[0].saes
    assert not Path(folder).exists()  # its managed copy is deleted too
