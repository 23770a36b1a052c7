"""The package as pip installs it: its declared dependencies, its shipped files, and a wheel built from the repository
that, installed into a folder and run from elsewhere, serves the same SAEs, catalogue, recipes and findings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
MAX_SHIPPED_BYTES = 10 * 2**20
SOURCES = ("pyproject.toml", "setup.py", "README.md", "saif_ui", "assets", "docs")
"""What a build reads (copied, so that the build's own folders never land in the checkout)."""

PROBE = r"""
import hashlib, json, sys
from pathlib import Path

import saif_ui
from saif_ui import resources
from saif_ui.engine.config import EngineConfig, shipped_saes
from saif_ui.saif.inputs.catalogue import CANDIDATES_PATH, load_catalogue
from saif_ui.saif.inputs.contents import contents_version
from saif_ui.saif.steering.recipe import load_recipes
from saif_ui.saif.studies.shipped import STUDIES_DIR, load_shipped
from saif_ui.ui.findings import findings_markdown

data = resources.data_dir().resolve()
try:
    resources.output_dir("docs")
    writes = "allowed"
except resources.DataDirError as err:
    writes = str(err)
sha = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()
catalogue = load_catalogue()
studies = sorted(p for d in STUDIES_DIR.iterdir() if d.is_dir() for p in d.glob("*.json"))
print(json.dumps({
    "package": str(Path(saif_ui.__file__).resolve().parent),
    "data": str(data),
    "writes": writes,
    "saes": {Path(f).name: {p.name: sha(p) for p in sorted(Path(f).iterdir())} for f in shipped_saes()},
    "engine_saes": [Path(s).name for s in EngineConfig.from_env().saes],
    "catalogue": [catalogue.version, list(catalogue.ids)],
    "candidates": list(load_catalogue(CANDIDATES_PATH).ids),
    "contents": contents_version(),
    "recipes": {iid: r.to_dict() for iid, r in load_recipes().items()},
    "studies": {f"{p.parent.name}/{p.stem}": load_shipped(p.parent.name, p.stem)["key_digest"] for p in studies},
    "findings": findings_markdown().replace(str(data), "<data>"),
}))
"""


def _env(**extra: str) -> dict[str, str]:
    """This interpreter's environment without the settings that would pick other data or SAEs."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SAIF_DATA_DIR", "SAIF_SAES", "SAIF_MODEL")}
    return {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}


def _probe(cwd: Path, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_dependencies_are_requirements_txt_with_a_torch_range():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {Requirement(r).name: Requirement(r) for r in project["dependencies"]}
    lines = [ln.split("#")[0].strip() for ln in (REPO / "requirements.txt").read_text().splitlines()]
    pinned = {Requirement(ln).name: Requirement(ln) for ln in lines if ln}
    assert set(declared) == set(pinned)
    assert {n: str(r.specifier) for n, r in declared.items() if n != "torch"} == {
        n: str(r.specifier) for n, r in pinned.items() if n != "torch"
    }
    torch = next(iter(pinned["torch"].specifier)).version  # the set-up script's CPU build satisfies the range
    assert declared["torch"].specifier.contains(torch) and len(declared["torch"].specifier) > 1


def test_every_shipped_file_is_under_10_mb():
    files = [p for folder in ("assets", "docs") for p in (REPO / folder).rglob("*") if p.is_file()]
    assert len(files) > 50
    assert not [f"{p} ({p.stat().st_size / 2**20:.1f} MiB)" for p in files if p.stat().st_size >= MAX_SHIPPED_BYTES]


@pytest.mark.slow
def test_an_installed_wheel_serves_the_shipped_data_as_the_checkout_does(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    build = ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"), str(src)]
    subprocess.run([*pip, *build], check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("saif_ui-*.whl")
    assert wheel.stat().st_size > 30 * 2**20  # the SAEs' weights are in it
    site = tmp_path / "site"
    install = ["install", "--no-deps", "--no-index", "--target", str(site), str(wheel)]
    subprocess.run([*pip, *install], check=True, capture_output=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    installed = _probe(elsewhere, _env(PYTHONPATH=str(site)))
    checkout = _probe(REPO, _env())

    assert installed["package"] == str((site / "saif_ui").resolve())
    assert installed["data"] == installed["package"]  # the data came from the wheel, not from the checkout
    assert "read-only: pass an output folder" in installed["writes"] and checkout["writes"] == "allowed"
    assert checkout["data"] == str(REPO)
    assert len(installed["saes"]) == 4
    assert all("sae_weights.safetensors" in files and "cfg.json" in files for files in installed["saes"].values())
    assert installed["engine_saes"] == list(installed["saes"])
    assert installed["recipes"] and installed["studies"] and "No findings yet" not in installed["findings"]
    for key in ("saes", "engine_saes", "catalogue", "candidates", "contents", "recipes", "studies", "findings"):
        assert installed[key] == checkout[key], key

    script = site / "bin" / "saif-ui"
    env = _env(PYTHONPATH=str(site))
    out = subprocess.run([str(script), "--help"], cwd=elsewhere, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "steering-study" in out.stdout, out.stderr[-2000:]
