"""`python -m saif_ui info --plan-only`: the memory plan printed without loading the model, as text and JSON, for this
machine or for the GPUs and RAM named on the command line."""

from __future__ import annotations

import json

import pytest

import saif_ui.engine.engine as engine_module
from saif_ui.cli import main
from tests.cli.conftest import json_out
from tests.engine.test_plan import LLAMA_3_1_8B, LLAMA_8B_PARAMS, folder_with


@pytest.fixture(autouse=True)
def never_loads(monkeypatch):
    """--plan-only must not load anything: loading the model fails the test."""

    def load_model(*args, **kwargs):
        raise AssertionError("info --plan-only loaded the model")

    monkeypatch.setattr(engine_module, "load_model", load_model)


def test_a_9b_class_config_planned_for_a_16_gb_gpu_on_a_laptop(tmp_path, capsys):
    model = folder_with(tmp_path / "llama", LLAMA_3_1_8B)
    code = main(["info", "--plan-only", "--model", model, "--gpu-gb", "16", "--dtype", "float32"])
    text = capsys.readouterr().out
    assert code == 1  # one request cannot fit
    assert "weights         32.12 GB" in text and "cuda:0 16.00 GB free" in text
    assert "Does not fit" in text and "- bfloat16 instead of float32 (SAIF_DTYPE=bfloat16): saves" in text


def test_plan_json_with_the_limits_from_the_command_line(tmp_path, capsys):
    model = folder_with(tmp_path / "llama", LLAMA_3_1_8B)
    args = ["info", "--plan-only", "--model", model, "--gpu-gb", "24,24", "--batch", "8", "--max-new-tokens", "256"]
    assert main([*args, "--json"]) == 0
    plan = json_out(capsys)
    assert plan["n_params"] == LLAMA_8B_PARAMS and plan["dtype"] == "bfloat16"
    assert plan["limits"] == {"prompt_tokens": 1024, "new_tokens": 256, "batch": 8}
    assert plan["bytes"]["weights"] == 2 * LLAMA_8B_PARAMS
    assert plan["bytes"]["kv_cache"] == 131_072 * 8 * (1024 + 256)
    assert plan["fits"] and not plan["spread"] and plan["suggestions"] == []
    assert plan["capacity"]["gpus"] == [24 * 10**9] * 2


def test_the_embedded_default_plan_on_a_small_laptop(capsys):
    assert main(["info", "--plan-only", "--ram-gb", "8", "--json"]) == 0
    plan = json_out(capsys)
    assert plan["model"] == "embedded:smollm2-135m-instruct" and plan["n_params"] == 134_515_008
    assert plan["fits"] and len(plan["saes"]) == 4 and plan["capacity"]["ram"] == 8 * 10**9


def test_a_hub_model_not_in_the_local_cache_is_not_downloaded(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert main(["info", "--plan-only", "--model", "meta-llama/Llama-3.1-8B"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the plan needs meta-llama/Llama-3.1-8B's config.json") and "never downloads" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpu-gb", "0"], "--gpu-gb and --ram-gb must be > 0"),
        (["--gpu-gb", "16", "--device", "cpu"], "--gpu-gb plans for GPUs, but the device is cpu"),
        (["--batch", "0"], "the plan's limits must be >= 1"),
    ],
)
def test_bad_plan_arguments(tmp_path, capsys, args, message):
    model = folder_with(tmp_path / "llama", LLAMA_3_1_8B)
    assert main(["info", "--plan-only", "--model", model, *args]) == 2
    assert message in capsys.readouterr().err


def test_plan_only_json_is_one_document(tmp_path, capsys):
    model = folder_with(tmp_path / "llama", LLAMA_3_1_8B)
    main(["info", "--plan-only", "--model", model, "--gpu-gb", "80", "--json"])
    assert json.loads(capsys.readouterr().out)["fits"]
