"""Tests for saif_ui.saif.studies.compliance: prompted compliance measured on the real model, and written into a
copy of the catalogue without changing its version."""

from __future__ import annotations

import json
import shutil

from saif_ui.engine.decoding import Decoding
from saif_ui.saif.inputs.catalogue import DEFAULT_CATALOGUE_PATH, load_catalogue
from saif_ui.saif.studies.compliance import prompted_compliance, write_compliance


def test_prompted_compliance_is_measured_and_written(engine, tmp_path) -> None:
    rates = prompted_compliance(engine, ["french", "uppercase"], n_contents=2, decoding=Decoding(max_new_tokens=8))
    assert set(rates) == {"french", "uppercase"}
    assert all(0.0 <= r["strict"] <= r["loose"] <= 1.0 and r["n"] == 2 for r in rates.values())
    copy = tmp_path / "instructions.json"
    shutil.copy(DEFAULT_CATALOGUE_PATH, copy)
    write_compliance({"french": {"strict": 0.75}}, "test run", copy)
    cat = load_catalogue(copy)
    assert cat.get("french").prompted_compliance == 0.75
    assert cat.version == load_catalogue().version  # rates do not change the catalogue's version
    assert json.loads(copy.read_text())["prompted_compliance_about"] == "test run"
