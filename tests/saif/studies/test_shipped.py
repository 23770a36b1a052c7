"""Shipped study results: read back when their key matches, rerun when it changes, and every shipped file's key
matches today's code and data."""

from __future__ import annotations

import json
from pathlib import Path

from saif_ui.engine.cache import digest
from saif_ui.saif.studies.shipped import STUDIES_DIR, is_current, load_shipped, run_or_load


def test_run_or_load_runs_once_per_key(tmp_path: Path) -> None:
    calls: list[int] = []

    def run() -> dict:
        calls.append(1)
        return {"rate": 0.5 * len(calls)}

    key = {"study": "demo", "v": 1}
    first = run_or_load("demo", "french", key, run, root=tmp_path, log=lambda _: None)
    again = run_or_load("demo", "french", key, run, root=tmp_path, log=lambda _: None)
    assert calls == [1] and first == again and first["result"] == {"rate": 0.5}
    assert first["key_digest"] == digest(key) and first["provenance"]["git_commit"] and first["seconds"] >= 0
    changed = run_or_load("demo", "french", {**key, "v": 2}, run, root=tmp_path, log=lambda _: None)
    assert calls == [1, 1] and changed["result"] == {"rate": 1.0}
    assert is_current(load_shipped("demo", "french", tmp_path), {**key, "v": 2})
    assert not list((tmp_path / "demo").glob(".*"))  # written atomically, no temporary left


def test_unreadable_result_is_absent_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "x.json").write_text("{half", encoding="utf-8")
    assert load_shipped("demo", "x", tmp_path) is None and not is_current(None, {})


def test_every_shipped_study_matches_the_code_and_data(engine) -> None:
    """A shipped result whose key no longer matches (the recipe, contents, catalogue, checkers, SAE weights, a study
    it reads or the study's version changed) must be rerun with the command the failure names."""
    from saif_ui.engine.config import shipped_saes
    from saif_ui.saif.studies.registry import by_name

    declared = by_name()
    folders = {p.name for p in STUDIES_DIR.iterdir() if p.is_dir()}
    assert "steering" in folders and folders <= set(declared), folders - set(declared)
    added = [engine.add_sae(p).name for p in shipped_saes() if Path(p).name not in engine.saes]
    try:
        for path in sorted(p for name in folders for p in (STUDIES_DIR / name).glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            study = declared[path.parent.name]
            key = study.key_for(engine, path.stem)
            assert doc["key"] == key, f"{path}: stale, rerun `python -m saif_ui {study.command}`"
            assert doc["key_digest"] == digest(key)
    finally:
        for name in added:
            engine.remove_sae(name)
