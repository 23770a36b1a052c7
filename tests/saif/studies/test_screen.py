"""Tests for saif_ui.saif.studies.screen: rates and Wilson intervals, a tiny screen on the real model, the written
catalogue and docs, and that the published screen and the shipped catalogue never drift apart."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from saif_ui.saif.inputs.catalogue import CANDIDATES_PATH, Catalogue, load_catalogue
from saif_ui.saif.inputs.contents import Content, contents_version
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.studies.screen import (
    DOCS,
    KEEP_AT,
    RETAINED,
    ScreenConfig,
    _Generations,
    judge_candidate,
    run_screen,
)
from saif_ui.saif.studies.screen_report import screen_markdown, screen_table, write_catalogue, write_screen

RATES = ("strict", "loose", "fluent_strict", "untold_strict")


def _assert_well_formed(row: dict[str, Any], n: int) -> None:
    assert row["n"] == n
    for name in RATES:
        low, high = row[f"{name}_ci"]
        assert 0.0 <= low <= row[name] <= high <= 1.0, (row["id"], name)
        assert row[f"{name}_k"] == round(row[name] * n)
    assert row["fluent_strict"] <= row["strict"] <= row["loose"]
    assert row["kept"] == (row["strict"] >= KEEP_AT)
    assert 1 <= len(row["examples"]) <= 2
    assert all({"content", "output", "strict"} <= set(e) for e in row["examples"])


def test_judge_candidate_counts_rates_and_picks_a_pass_and_a_fail() -> None:
    question = load_catalogue(CANDIDATES_PATH).get("question")
    contents = [Content(f"c{i}", "The library opens at nine.", "statement", "validation") for i in range(4)]
    told = ["When does it open?", "It opens at nine.", "Does it open? " * 30 + "Why?", "Is it open?"]
    untold = ["It opens at nine."] * 3 + ["Open?"]
    row = judge_candidate(question, contents, told, untold)
    _assert_well_formed(row, 4)
    assert (row["strict_k"], row["loose_k"], row["untold_strict_k"]) == (3, 3, 1)
    assert row["fluent_strict_k"] == 2  # the looping answer passes the checker but is not fluent
    assert row["kept"] and row["strict"] == 0.75
    assert [(e["content"], e["strict"]) for e in row["examples"]] == [("c0", True), ("c1", False)]


def test_screen_config_validates() -> None:
    with pytest.raises(ValueError, match="n_contents"):
        ScreenConfig(n_contents=0)
    with pytest.raises(ValueError, match="keep_at"):
        ScreenConfig(keep_at=0.0)
    assert ScreenConfig().decoding.max_new_tokens == 48 and not ScreenConfig().decoding.do_sample


def _fake_engine(tmp_path: Path) -> Any:
    """Just what the screen reads from an engine besides generating (which the test replaces)."""
    return SimpleNamespace(
        config=SimpleNamespace(model="fake", cache_dir=tmp_path / "cache"),
        loaded=SimpleNamespace(dtype="float32"),
        chat=SimpleNamespace(default_system_prompt=True),
    )


def test_two_stages_stop_only_candidates_clearly_below_the_bar(tmp_path, monkeypatch) -> None:
    def texts(self: Any, instruction: Any, mode: str, contents: Any) -> list[str]:
        answer = "Is it open?" if mode == "prompted" and instruction.id == "question" else "No."
        return [answer] * len(contents)

    monkeypatch.setattr(_Generations, "texts", texts)
    candidates = load_catalogue(CANDIDATES_PATH)
    small = Catalogue(tuple(candidates.get(i) for i in ("question", "ends_with_phrase")), candidates.version)
    result = run_screen(_fake_engine(tmp_path), small, ScreenConfig(n_contents=8, first_stage=4), log=lambda m: None)
    question, phrase = result["candidates"]
    assert (question["n"], question["strict"], question["stopped_early"], question["kept"]) == (8, 1.0, False, True)
    assert (phrase["n"], phrase["strict"], phrase["stopped_early"], phrase["kept"]) == (4, 0.0, True, False)
    assert phrase["strict_ci"][1] < KEEP_AT  # why it stopped
    assert result["config"]["n"] == 8 and result["config"]["n_first_stage"] == 4
    assert "Two stages" in screen_markdown(result)
    single = run_screen(_fake_engine(tmp_path), small, ScreenConfig(n_contents=8, first_stage=None), log=print)
    assert [r["n"] for r in single["candidates"]] == [8, 8] and "Two stages" not in screen_markdown(single)


def test_screen_on_the_real_model_writes_catalogue_and_docs(engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(engine.config, "cache_dir", tmp_path / "cache")
    candidates = load_catalogue(CANDIDATES_PATH)
    small = Catalogue(tuple(candidates.get(i) for i in ("french", "json", "no_commas")), candidates.version)
    cfg = ScreenConfig(n_contents=2, max_new_tokens=6)
    logged: list[str] = []
    result = run_screen(engine, small, cfg, log=logged.append)
    assert [r["id"] for r in result["candidates"]] == ["french", "json", "no_commas"] and len(logged) == 3
    for row in result["candidates"]:
        _assert_well_formed(row, 2)
    assert set(result["kept"]) | set(result["dropped"]) == {"french", "json", "no_commas"}
    prov = result["provenance"]
    assert prov["contents_version"] == contents_version("validation") and prov["checkers_version"] == CHECKERS_VERSION
    assert prov["candidates_version"] == candidates.version and prov["git_commit"]
    assert result["config"]["n"] == 2 and result["config"]["decoding"]["do_sample"] is False
    # The generations are cached: a second run regenerates nothing and judges the same.
    cached = sorted((tmp_path / "cache" / "screen").glob("*.json"))
    assert len(cached) == 4  # the contents alone, then one per candidate
    again = run_screen(engine, small, cfg, log=lambda m: None)
    assert again["candidates"] == result["candidates"]
    assert result["generation"] == {"chunk": 16, "chunks_generated": 4, "chunks_cached": 0}
    assert again["generation"] == {"chunk": 16, "chunks_generated": 0, "chunks_cached": 4}
    assert sorted((tmp_path / "cache" / "screen").glob("*.json")) == cached

    catalogue_path = write_catalogue(result, CANDIDATES_PATH, tmp_path / "instructions.json")
    written = load_catalogue(catalogue_path)  # validates every entry
    ids = ("french", "json", "no_commas")  # kept ones first, then the dropped ones that stay, flagged
    expected = [i for i in ids if i in result["kept"]] + [i for i in ids if i not in result["kept"] and i in RETAINED]
    assert list(written.ids) == expected
    for instruction in written:
        row = next(r for r in result["candidates"] if r["id"] == instruction.id)
        assert instruction.prompted_compliance == round(row["strict"], 3)
        assert (instruction.retained is not None) == (not row["kept"])
    json_path, md_path = write_screen(result, tmp_path / "docs")
    assert json.loads(json_path.read_text(encoding="utf-8")) == result
    markdown = md_path.read_text(encoding="utf-8")
    assert markdown == screen_markdown(result)
    assert f"commit `{prov['git_commit']}`" in markdown and "n = 2" in markdown
    assert all(f"| `{i}` |" in markdown for i in ("french", "json", "no_commas"))
    assert f"kept {len(result['kept'])} of 3" in screen_table(result)


# ---------------------------------------------------------------- the published screen and the shipped catalogue


@pytest.fixture(scope="module")
def published() -> dict[str, Any]:
    return json.loads((DOCS / "screen.json").read_text(encoding="utf-8"))


def test_published_kept_set_is_the_shipped_catalogue(published) -> None:
    catalogue = load_catalogue()
    kept = {i.id for i in catalogue if i.retained is None}
    assert set(published["kept"]) == kept
    retained = {i.id for i in catalogue if i.retained is not None}
    assert retained <= set(published["dropped"]) and retained <= set(RETAINED)
    rows = {r["id"]: r for r in published["candidates"]}
    for instruction in catalogue:
        assert instruction.prompted_compliance == round(rows[instruction.id]["strict"], 3), instruction.id


def test_published_screen_covers_every_candidate_with_intervals(published) -> None:
    candidates = load_catalogue(CANDIDATES_PATH)
    assert [r["id"] for r in published["candidates"]] == list(candidates.ids)
    n, first = published["config"]["n"], published["config"]["n_first_stage"]
    assert first >= 32
    for row in published["candidates"]:
        _assert_well_formed(row, first if row["stopped_early"] else n)
        assert not row["stopped_early"] or row["strict_ci"][1] < KEEP_AT
    markdown = (DOCS / "SCREEN.md").read_text(encoding="utf-8")
    assert all(f"| `{r['id']}` |" in markdown for r in published["candidates"])
    assert published["provenance"]["git_commit"] in markdown


def test_published_screen_is_current(published) -> None:
    """Editing the candidates, the validation contents or a checker's rules makes the screen stale: rerun
    `python -m saif_ui screen --write`. (Test passages can be added: the screen never reads them.)"""
    prov = published["provenance"]
    assert prov["candidates_version"] == load_catalogue(CANDIDATES_PATH).version
    assert prov["contents_version"] == contents_version("validation") and published["config"]["split"] == "validation"
    assert prov["checkers_version"] == CHECKERS_VERSION
    assert prov["command"].startswith("python -m saif_ui screen")


def test_published_screen_meets_the_catalogue_goals(published) -> None:
    kept = [r for r in published["candidates"] if r["kept"]]
    assert {"french", "spanish", "german"} <= {r["id"] for r in kept}  # the translations the model is known to do
