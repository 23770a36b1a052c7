"""`python -m saif_ui` as a user runs it: help, info and generate, text and JSON, and clear errors."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saif_ui", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def test_help_lists_the_commands():
    out = run("--help")
    assert out.returncode == 0 and "info" in out.stdout and "generate" in out.stdout


def test_info_json():
    out = run("info", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["model"] == "embedded:smollm2-135m-instruct"
    assert info["n_layers"] == 30 and info["d_model"] == 576 and info["device"] == "cpu" and info["dtype"] == "float32"
    assert Path(info["cache_dir"]).is_absolute()


def test_generate_json_answers_the_prompt():
    out = run("generate", "--prompt", "What is the capital of France?", "--max-new-tokens", "12", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    [result] = data["results"]
    assert "Paris" in result["text"]
    assert result["rendered"].endswith("<|im_start|>assistant\n") and data["tokens_per_second"] > 0


def test_bad_sae_is_a_clear_error_not_a_traceback():
    out = run("info", "--sae", "/no/such/sae")
    assert out.returncode == 2
    assert out.stderr.startswith("error: SAE folder /no/such/sae not found") and "Traceback" not in out.stderr


def test_discover_custom_instruction_with_two_wordings():
    out = run(
        "discover", "--instruction-text", "Answer in French.", "Reply in French.",
        "--layer", "8", "--n-contents", "2", "--top-k", "5", "--no-cache", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["instruction"].startswith("custom_") and data["layer"] == 8
    assert data["instruction_texts"] == ["Answer in French.", "Reply in French."]
    assert data["n_pairs"] == 2 and 0 < len(data["latents"]) <= 5


def test_discover_placement_study():
    args = ("discover", "--instruction", "french", "--placement-study", "--layer", "8", "--n-contents", "2")
    out = run(*args, "--top-k", "5", "--no-cache", "--json")
    assert out.returncode == 0, out.stderr
    study = json.loads(out.stdout)
    assert 0.0 <= study["jaccard"] <= 1.0 and study["top_k"] == 5 and study["layer"] == 8
    assert study["pre"]["placement"] == "pre" and study["post"]["placement"] == "post"
    assert set(study["shared"]) <= {r["id"] for r in study["post"]["latents"]}
    for dist in study["distributions"].values():
        assert dist["n_latents"] == 4096 and sum(dist["log10_histogram"]["counts"]) == dist["n_positive"]
    text = run(*args, "--top-k", "5")  # cached by the JSON run
    assert text.returncode == 0, text.stderr
    assert "Jaccard of the top-5" in text.stdout and "score distributions:" in text.stdout
    both = run(*args, "--placement", "pre")
    assert both.returncode == 2 and "drop --placement" in both.stderr
