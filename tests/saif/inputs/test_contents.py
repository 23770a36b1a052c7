"""Tests for saif_ui.saif.inputs.contents: the shipped content set, its split, and the user JSONL loader."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import (
    MAX_SHIPPED_WORDS,
    SPLITS,
    ContentFormatError,
    contents_version,
    infer_kind,
    load_contents,
    load_user_contents,
    parse_user_contents,
    split_for,
)

# Words that would leak an instruction's concept into the negative example `[content]` and blur SAIF's contrast.
INSTRUCTION_WORDS = re.compile(
    r"\b(translat\w*|french|spanish|german|json|keywords?|bullets?|bulleted|uppercase|lowercase|capital letters|"
    r"summar\w*|rewrite|list)\b",
    re.I,
)


def test_shipped_set_size_and_ids() -> None:
    contents = load_contents()
    assert len(contents) >= 220
    assert len({c.id for c in contents}) == len(contents)
    assert len({c.text.casefold() for c in contents}) == len(contents)


def test_splits_are_disjoint_balanced_and_large_enough() -> None:
    splits = {name: load_contents(name) for name in SPLITS}
    ids = [c.id for group in splits.values() for c in group]
    assert len(ids) == len(set(ids)) == len(load_contents())
    # Every reported figure rests on at least 96 test contents; the recipe is chosen on at least 96 others.
    assert len(splits["test"]) >= 96 and len(splits["validation"]) >= 96 and len(splits["discovery"]) >= 96
    for name, group in splits.items():
        share = sum(c.kind == "statement" for c in group) / len(group)
        assert 0.4 <= share <= 0.6, (name, share)
        assert load_contents(name) == group


def test_split_versions_are_independent(tmp_path: Path) -> None:
    # Adding a test passage must not change the discovery or validation versions (their caches stay valid).
    path = tmp_path / "c.jsonl"
    rows = [
        {"id": "a", "text": "One fact.", "kind": "statement", "split": "discovery"},
        {"id": "b", "text": "Two facts.", "kind": "statement", "split": "validation"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    before = {s: contents_version(s, path) for s in SPLITS}
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "c", "text": "Three facts.", "kind": "statement", "split": "test"}) + "\n")
    after = {s: contents_version(s, path) for s in SPLITS}
    assert after["discovery"] == before["discovery"] and after["validation"] == before["validation"]
    assert after["test"] != before["test"] and contents_version(path=path) != before["discovery"]


def test_split_for_is_three_one_one() -> None:
    assert [split_for(i) for i in range(10)] == ["discovery", "validation", "discovery", "test", "discovery"] * 2


def test_passages_are_plain_short_and_instruction_free() -> None:
    variants = [v.casefold() for instruction in load_catalogue() for v in instruction.variants()]
    for content in load_contents():
        text = content.text
        assert len(text.split()) <= MAX_SHIPPED_WORDS, content.id
        assert "?" not in text, content.id  # no questions for the model to answer
        assert not any(variant in text.casefold() for variant in variants), content.id
        assert not INSTRUCTION_WORDS.search(text), (content.id, INSTRUCTION_WORDS.search(text))
        assert infer_kind(text) == content.kind, content.id


def test_kinds_are_mixed() -> None:
    kinds = Counter(c.kind for c in load_contents())
    assert kinds["statement"] >= 80 and kinds["paragraph"] >= 80


def test_unknown_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="valid splits: discovery, validation, test"):
        load_contents("train")  # type: ignore[arg-type]


def test_contents_version_changes_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "text": "One.", "kind": "statement", "split": "discovery"}\n', encoding="utf-8")
    before = contents_version(path=path)
    assert len(before) == 12 and before == contents_version(path=path)
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert contents_version(path=path) != before


def test_shipped_loader_requires_kind_and_split(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "text": "One."}\n', encoding="utf-8")
    with pytest.raises(ContentFormatError, match="line 1: field 'kind'"):
        load_contents(path=path)


def test_user_loader_infers_kind_and_split(tmp_path: Path) -> None:
    lines = [{"id": f"s{i}", "text": f"Sentence number {i}."} for i in range(5)]
    lines.append({"id": "p0", "text": "First sentence. Second sentence."})
    lines.append({"id": "x", "text": "Forced.", "kind": "paragraph", "split": "test"})
    path = tmp_path / "user.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    contents = load_user_contents(path)
    assert [c.id for c in contents] == ["s0", "s1", "s2", "s3", "s4", "p0", "x"]
    assert [c.split for c in contents[:5]] == ["discovery", "validation", "discovery", "test", "discovery"]
    assert contents[5].kind == "paragraph" and contents[5].split == "discovery"
    assert contents[6].kind == "paragraph" and contents[6].split == "test"


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json}", "invalid JSON"),
        ('["a", "b"]', "expected an object"),
        ('{"id": "z"}', "field 'text'"),
        ('{"id": "z", "text": "   "}', "field 'text'"),
        ('{"id": 7, "text": "Seven."}', "field 'id'"),
        ('{"id": "has space", "text": "Hi."}', "must match"),
        ('{"id": "a", "text": "Again."}', "duplicate id 'a' \\(first on line 1\\)"),
        ('{"id": "z", "text": "Hi.", "kind": "poem"}', "kind 'poem' is not one of statement, paragraph"),
        ('{"id": "z", "text": "' + "word " * 300 + '"}', "300 words; the limit is 200"),
    ],
    ids=["json", "array", "no-text", "blank-text", "int-id", "bad-id", "duplicate", "bad-kind", "too-long"],
)
def test_user_loader_reports_the_bad_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = tmp_path / "user.jsonl"
    path.write_text(
        '{"id": "a", "text": "Fine."}\n\n{"id": "b", "text": "Fine too."}\n' + bad_line + "\n", encoding="utf-8"
    )
    with pytest.raises(ContentFormatError, match=f"line 4: .*{message}") as info:
        load_user_contents(path)
    assert info.value.line == 4
    assert isinstance(info.value, ValueError)


def test_parse_user_contents_from_memory() -> None:
    contents = parse_user_contents('{"id": "a", "text": "  Hello there.  "}')
    assert contents[0].text == "Hello there." and contents[0].kind == "statement"
    with pytest.raises(ValueError, match="no passages"):
        parse_user_contents("\n\n")
    assert parse_user_contents('{"id": "a", "text": "' + "w " * 300 + '"}', max_words=None)[0].id == "a"
