"""The app served on a free localhost port with the real embedded model and the shipped SAEs, every api_name called
through gradio_client, asserting on the data that comes back (rows, texts, figure traces)."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from concurrent.futures import CancelledError
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from saif_ui.resources import assets_dir
from saif_ui.ui.playground import info_markdown
from tests.conftest import random_sae

ENDPOINTS = {
    "/ablate", "/answer", "/chat", "/chat_reset", "/compare_layers", "/compute_cards", "/content_text", "/demo",
    "/discover", "/distil", "/distil_estimate", "/distil_status", "/export_csv", "/export_json", "/findings",
    "/generate", "/heatmap", "/import_json", "/instruction_info", "/latent_card", "/load_distilled", "/load_link",
    "/load_registry_sae", "/measure_quality", "/render_prompts", "/sae_details", "/share_link", "/special_grid",
    "/steer", "/steer_distilled", "/steer_joint", "/steer_recipe", "/stop_distil", "/stop_sweep", "/stop_training",
    "/sweep", "/sweep_joint", "/train_sae", "/train_side_by_side", "/training_status", "/umap", "/upload_sae",
}  # fmt: skip
SMALL = {"n_contents": 8, "top_k": 10}
"""Discovery on 8 prompt pairs: a few seconds on a CPU."""
TOKENS = 16


@pytest.fixture(scope="module")
def client(served):
    return Client(served[1].local_url, verbose=False)


@pytest.fixture(scope="module")
def discovered(client):
    """One discovery run (french, L24) shared by the tests that need ranked latents; the client keeps the session."""
    status, table, flagged = client.predict(instruction="french", **SMALL, api_name="/discover")
    return status, table, flagged


def plot_data(value: dict) -> list[dict]:
    assert value["type"] == "plotly"
    return json.loads(value["plot"])["data"]


def test_every_event_has_a_documented_api_name(client) -> None:
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(named) == ENDPOINTS


def test_instruction_info_for_catalogue_and_custom_instructions(client) -> None:
    _, _, about, note = client.predict("spanish", "", "none", api_name="/instruction_info")
    assert "Translate the text into Spanish." in about and "*fr*:" in about
    assert "Prompted compliance: **" in note and "%" in note and "even when told" not in note
    _, _, _, note = client.predict("uppercase", "", "none", api_name="/instruction_info")
    assert "does not follow this instruction even when told" in note  # measured 0% in the shipped catalogue
    _, _, about, note = client.predict(
        "custom", "Talk like a pirate.\nBe a pirate.", "none", api_name="/instruction_info"
    )
    assert "- Talk like a pirate." in about and "- Be a pirate." in about and "Checker: none" in about
    assert "not measured" in note


def test_content_and_rendered_prompts(client) -> None:
    text = client.predict("c001", api_name="/content_text")
    assert text.startswith("Water boils at a lower temperature")
    pos, neg = client.predict("french", "", "none", text, "post", False, api_name="/render_prompts")
    assert pos == f"<|im_start|>user\n{text}\n\nTranslate the text into French.<|im_end|>\n<|im_start|>assistant\n"
    assert neg == f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
    pre, _ = client.predict("french", "", "none", text, "pre", True, api_name="/render_prompts")
    assert "Translate the text into French.\n\nWater boils" in pre and "<|im_start|>system" in pre


def test_answers_with_and_without_the_instruction_are_judged(client) -> None:
    out = client.predict(instruction="french", max_new_tokens=TOKENS, api_name="/answer")
    pos, neg, without, without_verdict, with_, with_verdict = out
    assert "Translate the text into French." in pos and "Translate" not in neg
    assert without and with_ and without != with_
    assert "**french**: strict" in without_verdict and "perplexity" in with_verdict


def test_discovery_ranks_latents_apart_from_special_ones(discovered) -> None:
    status, table, flagged = discovered
    assert "carry `french` at **L24_fast_topk64** (layer 24), from 8 prompt pairs" in status
    assert table["headers"][:4] == ["rank", "latent", "label (top contexts)", "score"]
    assert 1 <= len(table["data"]) <= 10
    scores = [row[3] for row in table["data"]]
    assert scores == sorted(scores, reverse=True) and all("special" not in row[8] for row in table["data"])
    assert all(row[8] for row in flagged["data"])  # everything ranked apart carries a flag
    # Each latent of a shipped SAE carries the label its shipped contexts give it.
    labels = json.loads((assets_dir() / "saes" / "L24_fast_topk64" / "labels.json").read_text())["labels"]
    assert [row[2] for row in table["data"]] == [labels.get(str(row[1]), "–") for row in table["data"]]


def test_heatmap_of_positive_and_negative(client, discovered) -> None:
    fig = client.predict(n_latents=5, include_special=True, api_name="/heatmap")
    data = plot_data(fig)
    assert {t["type"] for t in data} == {"heatmap"}
    assert {t["coloraxis"] for t in data} <= {"coloraxis", "coloraxis2"}
    top5 = [f"#{row[1]}" for row in discovered[1]["data"][:5]]
    assert data[0]["y"][:5] == top5


def test_latent_card_with_contexts_histogram_and_neighbours(client, discovered) -> None:
    top = discovered[1]["data"][0][1]
    # (the "compute cards" button's visibility is an output too, but buttons return nothing to API clients)
    card, lens, words, contexts, hist, neighbours = client.predict(sae="L24_fast_topk64", latent=top,
                                                                   api_name="/latent_card")  # fmt: skip
    assert f"Latent #{top}" in card and "Discovery: score" in card and "held-out chats" in card
    assert lens["headers"] == ["promotes", "cos +", "suppresses", "cos −"] and len(lens["data"]) == 10
    assert words["data"] and 'class="saif-context"' in contexts
    assert plot_data(hist)[0]["type"] == "bar"
    assert len(neighbours["data"]) == 11 and top not in [row[0] for row in neighbours["data"]]
    fig, status = client.predict(sae="L24_fast_topk64", latent=top, api_name="/umap")
    data = plot_data(fig)
    assert "4096 latents" in status and data[0]["name"] == "all latents"
    assert any(t["name"] == f"selected #{top}" for t in data)


def test_steer_side_by_side_and_a_repeat_skips_the_model(client, served, discovered, monkeypatch) -> None:
    engine = served[0]
    top = [str(row[1]) for row in discovered[1]["data"][:5]]
    kw = {"latents": top, "alpha": 1.0, "max_new_tokens": TOKENS, "prompted_steered": True}
    out = client.predict(**kw, api_name="/steer")
    original, v_orig, steered, v_steer, prompted, v_prompt, both, v_both, spec = out
    assert original and steered and prompted and both and steered != original
    assert all("**french**: strict" in v for v in (v_orig, v_steer, v_prompt, v_both))
    parsed = json.loads(spec)
    assert [e["latent"] for e in parsed["latents"]] == [int(i) for i in top] and parsed["scale"] == "mean_act"
    assert all(e["mean_act"] > 0 for e in parsed["latents"])

    def untouchable(*args, **kwargs):
        raise AssertionError("a repeated request reached the model")

    for name in ("generate", "encode", "lm_loss", "hidden_states"):
        monkeypatch.setattr(engine, name, untouchable)
    assert client.predict(**kw, api_name="/steer") == out


def test_two_instructions_steer_together_and_a_sweep_maps_both_weights(client, served, monkeypatch) -> None:
    kw = {"instruction": "french", "second": "question", "max_new_tokens": 8}
    out = client.predict(**kw, weight_first=1.0, weight_second=2.0, api_name="/steer_joint")
    original, v_orig, steered, v_steer, prompted, v_prompt, spec = out
    assert original and steered and prompted
    for verdict in (v_orig, v_steer, v_prompt):
        assert "**both**:" in verdict and "french" in verdict and "question" in verdict
    parts = json.loads(spec)["parts"]
    assert [(p["instruction"], p["weight"]) for p in parts] == [("french", 1.0), ("question", 2.0)]
    with pytest.raises(AppError, match="second instruction other than"):
        client.predict(**{**kw, "second": "french"}, api_name="/steer_joint")
    with pytest.raises(AppError, match="two catalogue instructions"):
        client.predict(**{**kw, "instruction": "custom", "custom_text": "Talk like a pirate."}, api_name="/steer_joint")
    figure, table = client.predict(**kw, weights="0, 1", n_contents=2, api_name="/sweep_joint")
    [heat] = plot_data(figure)
    assert heat["type"] == "heatmap" and heat["x"] == ["0", "1"] and heat["y"] == ["0", "1"]
    assert heat["z"][0][0] is None  # both off is the original answer, not a cell
    rows = {(r[0], r[1]) for r in table["data"]}
    assert {("original", "–"), ("prompted", "–"), ("steered", "1 × 1"), ("steered", "0 × 1")} <= rows
    assert table["headers"][5:7] == ["french", "question"]
    # The sweep stays in the visitor's session: its table exports as CSV beside the others.
    csvs = {Path(p).name: Path(p) for p in client.predict(api_name="/export_csv")}
    header = csvs["joint_sweep.csv"].read_text().splitlines()[0]
    assert header == "answers,weights,success,95% CI,both followed,french,question,repeated,chrF"
    with pytest.raises(AppError, match="at most 5"):
        client.predict(**kw, weights="0 1 2 3 4 5", n_contents=2, api_name="/sweep_joint")
    with pytest.raises(AppError, match="maximum value 24"):
        client.predict(**kw, weights="0, 1", n_contents=200, api_name="/sweep_joint")


def test_two_layers_side_by_side_with_their_labels_and_steered_answers(client, discovered) -> None:
    kw = {"instruction": "french", "top_k": 10, "n_contents": 8, "max_new_tokens": 8}
    out = client.predict(**kw, sae_a="L15_fast_topk64", sae_b="L24_fast_topk64", api_name="/compare_layers")
    head_a, head_b, table_a, table_b, steered_a, steered_b, verdict_a, verdict_b, baselines = out
    assert "**L15_fast_topk64** (layer 15)" in head_a and "**L24_fast_topk64** (layer 24)" in head_b
    assert table_a["headers"] == ["rank", "latent", "label (top contexts)", "score", "logit lens"]
    # The second side is the discovery the Latents tab shows for the same settings (same SAE, contents, top-k).
    assert [r[1] for r in table_b["data"]] == [r[1] for r in discovered[1]["data"]]
    assert all(r[2] and r[2] != "–" for r in table_b["data"][:5])  # the shipped SAEs' latents carry labels
    assert steered_a and steered_b
    assert "**french**: strict" in verdict_a and "**french**: strict" in verdict_b
    assert "**Original (content only)**" in baselines and "**Prompted**" in baselines
    csvs = {Path(p).name: Path(p) for p in client.predict(api_name="/export_csv")}
    rows = list(csv.reader(io.StringIO(csvs["layer_comparison.csv"].read_text())))  # answers may hold newlines
    assert rows[0] == ["sae", "layer", "rank", "latent", "label (top contexts)", "score", "steered answer", "strict"]
    assert len(rows) == 1 + len(table_a["data"]) + len(table_b["data"])
    with pytest.raises(AppError, match="two different SAEs"):
        client.predict(**kw, sae_a="L24_fast_topk64", sae_b="L24_fast_topk64", api_name="/compare_layers")


def test_the_validated_recipe_is_shown_and_applied_in_one_click(client, served, tmp_path, monkeypatch) -> None:
    from dataclasses import replace

    from saif_ui.saif.steering import recipe as recipes

    shipped = recipes.require_recipe("french").spec  # the shipped French latents, pushed hard so the answer changes
    spec = replace(shipped, alpha=6.0, decay=0.1)
    made = recipes.Recipe("french", "saif_topk", spec, k=len(spec.latents), fidelity_threshold=25.0)
    monkeypatch.setattr(recipes, "RECIPES_PATH", tmp_path / "recipes.json")
    recipes.save_recipe(made, recipes.RECIPES_PATH)  # writes go where the app now reads
    out = client.predict(instruction="french", max_new_tokens=TOKENS, api_name="/steer_recipe")
    original, _, steered, v_steer, prompted, *_ = out
    assert original and steered and prompted and steered != original and "**french**: strict" in v_steer
    applied = json.loads(out[8])
    assert [e["latent"] for e in applied["latents"]] == [e.latent for e in shipped.latents]
    assert applied["alpha"] == 6.0 and applied["decay"] == 0.1
    assert out[10] == 6.0 and out[13] == shipped.scale and out[14] == 0.1  # α, scale and decay controls follow
    with pytest.raises(AppError, match="no validated recipe"):
        client.predict(instruction="german", max_new_tokens=TOKENS, api_name="/steer_recipe")


def said(message: dict) -> str:
    """A chatbot message's text (gradio 6 sends its content as a list of typed parts)."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(part["text"] for part in content)


def test_a_demo_runs_discover_steer_and_verdict_on_a_test_passage(client) -> None:
    about, latents, *answers, verdict = client.predict(instruction="one_sentence", index=1, api_name="/demo")
    assert "Summarize the text in one sentence." in about and "Test passage 2 of " in about
    assert "On 96 held-out test passages" in about and "95% Wilson" in about
    assert "Step 1 · discover" in latents and "L15_fast_topk64" in latents and "★" in latents
    texts, verdicts = answers[::2], answers[1::2]
    assert all(t.strip() for t in texts) and all("one_sentence" in v for v in verdicts)
    assert re.search(r"Step 3 · verdict [✓✗]: (success|not a success)\*\* — complies (yes|no)", verdict), verdict
    with pytest.raises(AppError, match="no demo for 'french'"):
        client.predict(instruction="french", index=0, api_name="/demo")


def test_a_chat_answers_each_turn_three_ways_with_the_recipe(client) -> None:
    """The one_sentence recipe (its SAE is shipped) steers every turn; each column keeps its own history, the prompted
    one told on every turn; an empty message is refused and keeps the conversation."""
    kw = {"source": "recipe", "instruction": "one_sentence", "max_new_tokens": TOKENS, "api_name": "/chat"}
    client.predict(api_name="/chat_reset")
    first = client.predict(message="Bees make honey from the nectar of flowers.", **kw)
    default, _, steered, v_steered, prompted, _, box = first
    assert [m["role"] for m in default] == ["user", "assistant"] and box == ""
    assert said(default[0]) == said(steered[0]) == "Bees make honey from the nectar of flowers."
    assert said(prompted[0]).startswith("Bees make honey") and "one sentence" in said(prompted[0]).lower()
    assert said(steered[1]) != said(default[1])  # the recipe acts
    assert "follows in" in v_steered and "of 1 turns" in v_steered
    second = client.predict(message="Cats purr when they are content.", **kw)
    assert [len(column) for column in second[0:6:2]] == [4, 4, 4]
    assert second[0][:2] == default and second[2][:2] == steered  # earlier turns kept as they were
    with pytest.raises(AppError, match="the message is empty"):
        client.predict(message="   ", **kw)
    assert client.predict(message="Cats purr when they are content.", **kw)[0][:2] == default  # the history is intact
    link = client.predict(instruction="one_sentence", api_name="/share_link")  # the link carries the messages
    assert "chat=%5B%22Bees+make+honey" in link and link.endswith("&steer_with=recipe")
    cleared = client.predict(api_name="/chat_reset")
    assert cleared[0] == [] and "chat=" not in client.predict(instruction="one_sentence", api_name="/share_link")


def test_strengths_change_the_spec(client, discovered) -> None:
    top = [str(row[1]) for row in discovered[1]["data"][:2]]
    out = client.predict(latents=top, strengths=[0.5, -1.0], alpha=2.0, scale="unit",
                         max_new_tokens=8, api_name="/steer")  # fmt: skip
    spec = json.loads(out[-1])
    assert [e["strength"] for e in spec["latents"]] == [0.5, -1.0] and spec["alpha"] == 2.0 and spec["scale"] == "unit"
    # Any latent can be typed in: discovery's statistics cover them all (a latent silent under the instruction has
    # mean activation 0, so only the unit scale moves the model with it; the UI warns).
    spec = json.loads(client.predict(latents=["5"], scale="unit", max_new_tokens=8, api_name="/steer")[-1])
    assert spec["latents"][0]["latent"] == 5 and spec["latents"][0]["mean_act"] == 0.0


def test_each_intervention_steers_through_the_api(client, discovered) -> None:
    top = [str(row[1]) for row in discovered[1]["data"][:2]]
    texts = {}
    for method in ("add", "orthogonal", "cap", "clamp"):
        out = client.predict(latents=top, alpha=4.0, method=method, max_new_tokens=8, api_name="/steer")
        spec = json.loads(out[-1])
        assert spec.get("method", "add") == method and [str(e["latent"]) for e in spec["latents"]] == top
        texts[method] = out[2]
    assert len(set(texts.values())) > 1  # the methods act differently on the same latents
    with pytest.raises(AppError, match="not in the list of choices"):  # gradio checks a radio's value
        client.predict(latents=top, method="scale", max_new_tokens=8, api_name="/steer")


def test_steer_with_twelve_latents_each_at_its_strength(client, discovered) -> None:
    """Steering takes any number of latents: twelve, more than the sliders, each with its strength."""
    rows = discovered[1]["data"]
    twelve = [str(row[1]) for row in rows[:10]] + [str(row[1]) for row in discovered[2]["data"][:2]]
    assert len(set(twelve)) == 12
    strengths = [round(0.6 + 0.1 * k, 2) for k in range(12)]
    out = client.predict(latents=twelve, strengths=strengths, alpha=1.5, max_new_tokens=8, api_name="/steer")
    spec = json.loads(out[-1])
    assert [e["latent"] for e in spec["latents"]] == [int(i) for i in twelve]
    assert [e["strength"] for e in spec["latents"]] == strengths and spec["alpha"] == 1.5
    assert out[2] and out[2] != out[0]  # a steered answer, not the original one
    with pytest.raises(AppError, match="13 strengths for 12 latents"):
        client.predict(latents=twelve, strengths=[*strengths, 1.0], max_new_tokens=8, api_name="/steer")


def test_sweep_plots_accuracy_and_fluency_against_alpha(client, discovered) -> None:
    top = [str(row[1]) for row in discovered[1]["data"][:5]]
    fig, table, note = client.predict(latents=top, alphas="0, 1", n_contents=2, max_new_tokens=8, api_name="/sweep")
    assert "Prompted compliance in your sweep" in note and "of 2 validation contents" in note
    names = [t["name"] for t in plot_data(fig)]
    assert "steered fluent strict" in names and "perplexity" in names
    assert [row[0] for row in table["data"]] == [0.0, 1.0, "original", "prompted"]
    assert client.predict(api_name="/stop_sweep") in (None, ())


def test_ablation_plots_drop_one_bars_and_the_add_one_curve(client, discovered) -> None:
    top = [str(row[1]) for row in discovered[1]["data"][:3]]
    fig = client.predict(latents=top, alpha=1.0, n_contents=2, max_new_tokens=8, api_name="/ablate")
    bars, curve = plot_data(fig)
    assert bars["type"] == "bar" and bars["x"] == [f"without {i}" for i in top]
    assert curve["x"] == ["first 1", "first 2", "first 3"] and all(0 <= y <= 1 for y in bars["y"] + curve["y"])
    # The plot's data exports as CSV: one row per point.
    csvs = {Path(p).name: Path(p) for p in client.predict(api_name="/export_csv")}
    rows = list(csv.reader(io.StringIO(csvs["ablation.csv"].read_text())))
    assert rows[0][:3] == ["curve", "variant", "latents"] and len(rows) == 1 + 2 + 3 + 3
    with pytest.raises(AppError, match="at least 2 latents"):
        client.predict(latents=top[:1], alpha=1.0, n_contents=2, max_new_tokens=8, api_name="/ablate")


def test_a_running_sweep_can_be_stopped(client, served, discovered, monkeypatch) -> None:
    engine = served[0]
    top = [str(row[1]) for row in discovered[1]["data"][:5]]
    calls: list[float] = []
    generate = engine.generate_each

    def counted(*args, **kwargs):
        calls.append(time.time())
        return generate(*args, **kwargs)

    monkeypatch.setattr(engine, "generate_each", counted)
    alphas = ", ".join(str(0.1 * i) for i in range(1, 11))  # 6 contents × (2 baselines + 10 α): 3 batches of 32
    job = client.submit(latents=top, alphas=alphas, n_contents=6, max_new_tokens=12, api_name="/sweep")
    deadline = time.time() + 60
    while not calls and time.time() < deadline:
        time.sleep(0.1)
    client.predict(api_name="/stop_sweep")
    stopped_at = time.time()
    with pytest.raises((CancelledError, AppError)):  # the job is cancelled, or its handler says "Stopped ..."
        job.result(timeout=120)
    time.sleep(3)
    # The library's loop stopped at its next progress report: at most the batch in flight ran after the stop,
    # short of the sweep's 3 batches.
    assert len([t for t in calls if t > stopped_at]) <= 1 and len(calls) < 3


def test_special_token_grid(client) -> None:
    table = client.predict(sae="L24_fast_topk64", latent="", alphas="0, 50", max_new_tokens=8, api_name="/special_grid")
    assert table["headers"] == ["α", "answer", "strict", "loose"] and [r[0] for r in table["data"]] == [0.0, 50.0]


def test_export_import_and_share(client, discovered, tmp_path) -> None:
    top = [str(row[1]) for row in discovered[1]["data"][:3]]
    [path] = client.predict(latents=top, alpha=1.5, strengths=[1.0, 0.25], api_name="/export_json")
    record = json.loads(Path(path).read_text())
    assert record["format"] == "saif_ui.exploration" and record["instruction"]["id"] == "french"
    assert record["latents"] == [int(i) for i in top] and record["strengths"][top[1]] == 0.25 and record["layer"] == 24
    assert record["outputs"]["discovery"]["instruction"] == "french"
    csvs = client.predict(api_name="/export_csv")
    assert {"latents.csv", "flagged_latents.csv"} <= {Path(p).name for p in csvs}
    latents_csv = Path(next(p for p in csvs if p.endswith("/latents.csv"))).read_text()
    assert latents_csv.startswith("rank,latent,label (top contexts),score")
    record["alpha"] = 3.0
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(record))
    out = client.predict(handle_file(str(edited)), api_name="/import_json")
    assert out[-1].startswith("Imported") and {"__type__": "update", "value": 3.0} in out
    link = client.predict(instruction="french", sae="L24_fast_topk64", latents=top, alpha=1.5, strengths=[1, 0.25],
                          api_name="/share_link")  # fmt: skip
    assert link.endswith(f"/?instruction=french&layer=24&latents={','.join(top)}&strengths=1,0.25,1&alpha=1.5")
    assert client.predict(api_name="/load_link")[-1] == ""  # no query parameters: nothing changes


def test_saes_tab_reports_and_uploads(client, served, tmp_path) -> None:
    details, quality, curves, special = client.predict("L24_fast_topk64", api_name="/sae_details")
    assert "Trained with **FAST**" in details and "366 steps" in details
    assert [row[0] for row in quality["data"]] == [
        "L08_fast_topk64",
        "L15_fast_topk64",
        "L24_fast_topk64",
        "L27_fast_topk64",
    ]
    assert {row[0] for row in special["data"]} >= {"<|im_start|>", "<|im_end|>", "assistant"}
    assert plot_data(curves), "the shipped SAE's tab plots its recipe's re-run curve"
    title = json.dumps(json.loads(curves["plot"])["layout"])
    assert "re-run of L24_fast_topk64's recipe, not the shipped weights' own curve" in title and "EV 0." in title
    folder = tmp_path / "sae"
    random_sae(576, 64, "blocks.20.hook_resid_post").save_model(str(folder))
    files = [handle_file(str(folder / "cfg.json")), handle_file(str(folder / "sae_weights.safetensors"))]
    _, table, status = client.predict(files, api_name="/upload_sae")
    assert status.startswith("Attached **upload_") and any(row[1] == 20 for row in table["data"])
    uploaded = status.split("**")[1]
    _, _, uploaded_curves, _ = client.predict(uploaded, api_name="/sae_details")
    assert not plot_data(uploaded_curves)  # an SAE trained elsewhere has no curve here, and the tab says so
    assert f"No training curve was recorded for {uploaded}" in uploaded_curves["plot"]
    with pytest.raises(AppError, match="exactly two files"):
        client.predict([files[0]], api_name="/upload_sae")
    with pytest.raises(AppError, match="offline"):
        client.predict("gemma-scope-2-270m-it-res/layer_12_width_16k_l0_medium", api_name="/load_registry_sae")
    assert "shipped" in client.predict("L24_fast_topk64", api_name="/compute_cards")


def test_findings_document(client) -> None:
    assert "FINDINGS" in client.predict(api_name="/findings") or "findings" in client.predict(api_name="/findings")


def test_bad_input_is_a_clear_error_and_the_server_keeps_serving(client) -> None:
    with pytest.raises(AppError, match="write your instruction"):
        client.predict(instruction="custom", custom_text="  ", api_name="/discover")
    with pytest.raises(AppError, match="'x7' is not one"):
        client.predict(latents=["x7"], api_name="/steer")
    with pytest.raises(AppError, match="choose at least one latent"):
        client.predict(latents=[], api_name="/steer")
    with pytest.raises(AppError, match="out of range"):
        client.predict(latents=["99999"], scale="unit", api_name="/steer")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("nope", api_name="/content_text")
    with pytest.raises(AppError, match="Write a prompt first"):
        client.predict(text="   ", max_new_tokens=8, api_name="/generate")
    _, answer = client.predict(text="Say hello.", max_new_tokens=8, api_name="/generate")
    assert answer


def test_generate_endpoint(client) -> None:
    question = {"text": "What is the capital of France?", "system_prompt": False, "api_name": "/generate"}
    rendered, answer = client.predict(**question, max_new_tokens=12)
    assert rendered == "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    assert "Paris" in answer
    # every decoding knob is a parameter (the engine's tests check each one's effect): a seeded sample repeats
    sampled = client.predict(**question, max_new_tokens=12, do_sample=True, temperature=1.5, seed=3)
    assert sampled == client.predict(**question, max_new_tokens=12, do_sample=True, temperature=1.5, seed=3)
    with pytest.raises(AppError, match=r"less than minimum value 1\.0"):  # the slider refuses it first
        client.predict(**question, repetition_penalty=0.5)


@pytest.mark.slow
def test_readme_api_example_runs(served) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("\n## API\n") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("```", start)]
    assert 'Client("http://127.0.0.1:7860/")' in code
    scope: dict = {}
    exec(code.replace('Client("http://127.0.0.1:7860/")', f'Client("{served[1].local_url}", verbose=False)'), scope)
    assert scope["steered"] and "strict" in scope["steered_verdict"] and len(scope["table"]["data"]) == 4


@pytest.mark.slow
def test_measure_quality_of_an_sae_without_report(client) -> None:
    details, quality, *_ = client.predict("L24_fast_topk64", api_name="/measure_quality")
    assert "L24_fast_topk64" in details and quality["data"]


def test_info_markdown_lists_model_and_saes(engine) -> None:
    md = info_markdown(engine.info())
    assert "embedded:smollm2-135m-instruct" in md and "30 layers" in md and "| SAEs |" in md
