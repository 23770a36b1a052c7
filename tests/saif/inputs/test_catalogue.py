"""Tests for saif_ui.saif.inputs.catalogue: the shipped catalogue, validation errors, custom instructions."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from saif_ui.saif.inputs.catalogue import (
    CANDIDATES_PATH,
    DEFAULT_CATALOGUE_PATH,
    MIN_REWORDINGS,
    MIN_TRANSLATIONS,
    Instruction,
    Translation,
    UnknownInstructionError,
    load_catalogue,
)
from saif_ui.saif.judge.checkers import CHECKERS
from saif_ui.saif.studies.screen import KEEP_AT


def _entry(instruction_id: str = "shout", checker: str = "uppercase") -> dict[str, Any]:
    return {
        "id": instruction_id,
        "category": "case",
        "canonical": "Write it loudly.",
        "rewordings": [f"Wording {i}." for i in range(MIN_REWORDINGS)],
        "translations": [{"lang": "fr", "text": "Écris-le fort."}, {"lang": "de", "text": "Schreib es laut."}],
        "checker": checker,
        "description": "Test instruction.",
    }


def _write(tmp_path: Path, entries: list[Any], version: Any = 1) -> Path:
    path = tmp_path / "instructions.json"
    path.write_text(json.dumps({"version": version, "instructions": entries}), encoding="utf-8")
    return path


def test_shipped_catalogue_has_the_required_instructions() -> None:
    catalogue = load_catalogue()
    assert {"french", "spanish", "json"} <= set(catalogue.ids)
    assert catalogue.ids[0] == "french"  # the UI's first choice is the instruction the model follows best
    assert catalogue.get("french").canonical == "Translate the text into French."
    assert catalogue.get("spanish").canonical == "Translate the text into Spanish."
    assert catalogue.get("json").canonical == "Return the answer as JSON."


def test_shipped_catalogue_entries_are_complete() -> None:
    raw = json.loads(DEFAULT_CATALOGUE_PATH.read_text(encoding="utf-8"))
    assert "version" in raw
    for instruction in load_catalogue():
        assert instruction.checker in CHECKERS, instruction.id
        assert len(instruction.rewordings) >= MIN_REWORDINGS
        assert len(instruction.translations) >= MIN_TRANSLATIONS
        assert all(t.lang != "en" for t in instruction.translations)
        assert instruction.description
        # Measured with the embedded model by `python -m saif_ui screen --write`.
        assert instruction.prompted_compliance is not None and 0.0 <= instruction.prompted_compliance <= 1.0
        _assert_short_and_distinct(instruction)


def _assert_short_and_distinct(instruction: Instruction) -> None:
    # Short and imperative: suited to be appended after a passage (IFEval's fixed end phrase needs the most room).
    assert all(len(text) <= 100 for text in instruction.variants()), instruction.id
    assert len(set(instruction.variants())) == len(instruction.variants())


def test_shipped_catalogue_is_the_kept_candidates() -> None:
    """Every shipped instruction is a candidate, word for word, and either passed the screen or says why it stays."""
    candidates = {i.id: i for i in load_catalogue(CANDIDATES_PATH)}
    for instruction in load_catalogue():
        assert instruction == candidates[instruction.id]  # same wordings and checker (rates are not compared)
        assert instruction.retained is not None or instruction.prompted_compliance >= KEEP_AT, instruction.id
        if instruction.retained is not None:
            assert instruction.prompted_compliance < KEEP_AT, instruction.id  # only a dropped one needs a reason


def test_candidates_span_the_categories() -> None:
    candidates = load_catalogue(CANDIDATES_PATH)
    assert len(candidates) >= 30
    per_category = Counter(i.category for i in candidates)
    assert {"language", "format", "length", "lexical", "style"} <= set(per_category)
    assert all(per_category[c] >= 4 for c in ("language", "format", "length", "lexical", "style")), per_category
    assert per_category["language"] >= 6  # several languages beyond French, Spanish and German
    for instruction in candidates:
        assert instruction.checker in CHECKERS, instruction.id
        assert instruction.description and instruction.prompted_compliance is None  # measured only once kept
        assert instruction.retained is None
        assert all(t.lang != "en" for t in instruction.translations)
        _assert_short_and_distinct(instruction)
    assert CANDIDATES_PATH.stat().st_size < 1_000_000


def test_retained_is_optional_and_not_part_of_the_version(tmp_path: Path) -> None:
    path = _write(tmp_path, [_entry()])
    first = load_catalogue(path)
    assert first.get("shout").retained is None
    _write(tmp_path, [{**_entry(), "retained": "tests name this id", "prompted_compliance": 0.1}])
    again = load_catalogue(path)
    assert again.get("shout").retained == "tests name this id"
    assert again.version == first.version  # a flag, not a wording
    _write(tmp_path, [{**_entry(), "retained": "  "}])
    with pytest.raises(ValueError, match="retained must be a non-empty reason"):
        load_catalogue(path)


def test_variants_order() -> None:
    instruction = Instruction(
        id="x",
        category="c",
        canonical="A.",
        rewordings=("B.", "C."),
        translations=(Translation("fr", "D."),),
        checker="json",
    )
    assert instruction.variants() == ("A.", "B.", "C.", "D.")


def test_get_unknown_id_lists_valid_ids() -> None:
    catalogue = load_catalogue()
    with pytest.raises(UnknownInstructionError) as info:
        catalogue.get("klingon")
    assert isinstance(info.value, KeyError)
    assert "klingon" in str(info.value) and "french" in str(info.value) and "json" in str(info.value)
    assert "french" in catalogue and "klingon" not in catalogue


def test_version_is_a_content_hash(tmp_path: Path) -> None:
    path = _write(tmp_path, [_entry()])
    first = load_catalogue(path)
    assert first.version.startswith("v1-")
    assert load_catalogue(path).version == first.version
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert load_catalogue(path).version == first.version  # formatting is not content
    _write(tmp_path, [{**_entry(), "prompted_compliance": 0.5}])
    assert load_catalogue(path).version == first.version  # a measured rate does not change the wordings
    _write(tmp_path, [{**_entry(), "canonical": "Something else entirely."}])
    assert load_catalogue(path).version != first.version
    assert load_catalogue().path == DEFAULT_CATALOGUE_PATH


def test_duplicate_id_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, [_entry("shout"), _entry("shout")])
    with pytest.raises(ValueError, match="duplicate instruction id 'shout'"):
        load_catalogue(path)


def test_unknown_checker_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, [_entry(checker="telepathy")])
    with pytest.raises(ValueError, match=r"unknown checker 'telepathy'.*valid checkers: .*json"):
        load_catalogue(path)


def test_too_few_rewordings_is_rejected(tmp_path: Path) -> None:
    entry = _entry()
    entry["rewordings"] = entry["rewordings"][: MIN_REWORDINGS - 1]
    with pytest.raises(ValueError, match=f"at least {MIN_REWORDINGS} rewordings"):
        load_catalogue(_write(tmp_path, [entry]))


def test_too_few_translations_is_rejected(tmp_path: Path) -> None:
    entry = _entry()
    entry["translations"] = entry["translations"][:1]
    with pytest.raises(ValueError, match=f"at least {MIN_TRANSLATIONS} translations"):
        load_catalogue(_write(tmp_path, [entry]))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("checker"), "missing fields \\['checker'\\]"),
        (lambda e: e.update(rewording=["typo"]), "unknown fields \\['rewording'\\]"),
        (lambda e: e.update(id="Bad Id"), "must match"),
        (lambda e: e["rewordings"].append("write it loudly."), "appears twice"),
        (lambda e: e["rewordings"].append("   "), "non-empty string"),
        (lambda e: e.update(translations=["Écris-le fort.", "Schreib es laut."]), "string 'lang' and 'text'"),
        (lambda e: e.update(prompted_compliance=1.5), "prompted_compliance"),
    ],
)
def test_malformed_entries_are_rejected(tmp_path: Path, mutate: Any, message: str) -> None:
    entry = copy.deepcopy(_entry())
    mutate(entry)
    with pytest.raises(ValueError, match=message):
        load_catalogue(_write(tmp_path, [entry]))


def test_malformed_files_are_rejected(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="invalid JSON"):
        load_catalogue(bad_json)
    no_list = tmp_path / "nolist.json"
    no_list.write_text(json.dumps({"version": 1, "instructions": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="'instructions' list"):
        load_catalogue(no_list)
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        load_catalogue(tmp_path / "missing.json")


def test_custom_instruction_is_deterministic() -> None:
    first = Instruction.custom(["Answer like a pirate.", "Talk like a pirate."])
    again = Instruction.custom(["  Answer like a pirate. ", "Talk like a pirate."], checker="lowercase")
    other = Instruction.custom(["Talk like a pirate.", "Answer like a pirate."])
    assert first.id == again.id == "custom_8f632c9020"  # pinned: cache keys built on it must survive releases
    assert other.id != first.id
    assert first.canonical == "Answer like a pirate."
    assert first.rewordings == ("Talk like a pirate.",)
    assert first.variants() == ("Answer like a pirate.", "Talk like a pirate.")
    assert first.checker is None and again.checker == "lowercase"
    assert first.category == "custom"


def test_custom_instruction_validation() -> None:
    with pytest.raises(ValueError, match="at least one non-empty text"):
        Instruction.custom([])
    with pytest.raises(ValueError, match="at least one non-empty text"):
        Instruction.custom(["Do it.", "  "])
    with pytest.raises(ValueError, match="unknown checker 'nope'"):
        Instruction.custom(["Do it."], checker="nope")
    with pytest.raises(TypeError, match="not a single string"):
        Instruction.custom("Do it.")  # type: ignore[arg-type]


def test_fingerprint_tracks_wordings_and_checker() -> None:
    base = Instruction.custom(["Do it."], checker="json")
    assert base.fingerprint == Instruction.custom(["Do it."], checker="json").fingerprint
    assert base.fingerprint != Instruction.custom(["Do it."], checker="uppercase").fingerprint
    assert base.fingerprint != Instruction.custom(["Do it.", "Just do it."], checker="json").fingerprint
