"""The findings pipeline end to end on a tiny configuration: studies, their cache, figures and the document."""

from __future__ import annotations

import json

import pytest

from saif_ui.cli import main
from saif_ui.engine.config import shipped_saes
from saif_ui.saif.studies.findings import run_studies, write_findings
from saif_ui.saif.studies.studies import StudyConfig

TINY = StudyConfig(
    instructions=("french",), n_contents=2, alphas=(1.0, 8.0), max_new_tokens=6, grid_contents=("Hi.",), n_discovery=4
)


@pytest.fixture
def l24(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(engine.config, "cache_dir", tmp_path / "cache")
    name = engine.add_sae(next(s for s in shipped_saes() if "L24" in s)).name
    yield name
    engine.remove_sae(name)


def test_findings_document_figures_and_data(engine, l24, tmp_path) -> None:
    messages: list[str] = []
    data = run_studies(engine, TINY, log=messages.append)
    assert data["best_layer"] == 24 and set(data["layers"]["french"]) == {"24"}
    assert {"placement", "topk", "drop_one", "special"} <= set(data)
    assert set(data["topk"]["french"]) == {"1", "5", "10"}
    assert len(data["drop_one"]["french"]["rows"]) == TINY.k
    assert [r["alpha"] for r in data["special"]["24"]["grids"][0]["rows"]] == [0, 15, 25, 50, 100, 150, 200]
    path = write_findings(data, tmp_path / "docs")
    text = path.read_text(encoding="utf-8")
    for heading in (
        "## Claims",
        "## Layer comparison",
        "## Placement",
        "## Top-1 vs top-k",
        "## Drop-one",
        "## Special",
    ):
        assert heading in text
    assert (tmp_path / "docs" / "figures" / "steering_sweep.png").stat().st_size > 1000
    assert json.loads((tmp_path / "docs" / "findings.json").read_text())["best_layer"] == 24
    # A second run is served from the study cache: same data, no new generation.
    before = engine.generations.stats()["misses"]
    again = run_studies(engine, TINY, log=messages.append)
    assert again["layers"] == data["layers"] and engine.generations.stats()["misses"] == before


def test_findings_rejects_unknown_instruction_before_loading(capsys) -> None:
    assert main(["findings", "--instructions", "french,klingon"]) == 2
    assert "klingon" in capsys.readouterr().err
