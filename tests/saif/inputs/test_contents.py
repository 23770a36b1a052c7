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


def test_splits_are_disjoint_balanced_and_deterministic() -> None:
    discovery, heldout = load_contents("discovery"), load_contents("heldout")
    assert discovery and heldout
    assert not {c.id for c in discovery} & {c.id for c in heldout}
    assert len(discovery) + len(heldout) == len(load_contents())
    assert 0.55 <= len(discovery) / len(load_contents()) <= 0.65
    for kind in ("statement", "paragraph"):
        n_disc = sum(c.kind == kind for c in discovery)
        n_held = sum(c.kind == kind for c in heldout)
        assert n_held > 0 and 0.55 <= n_disc / (n_disc + n_held) <= 0.65, kind
    assert load_contents("heldout") == heldout


def test_shipped_split_follows_split_for() -> None:
    # The file's split field must match the documented rule, so regenerating the file cannot silently move passages.
    per_kind: Counter[str] = Counter()
    for content in load_contents():
        assert content.split == split_for(per_kind[content.kind]), content.id
        per_kind[content.kind] += 1


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
    with pytest.raises(ValueError, match="valid splits: discovery, heldout"):
        load_contents("train")  # type: ignore[arg-type]


def test_contents_version_changes_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "text": "One.", "kind": "statement", "split": "discovery"}\n', encoding="utf-8")
    before = contents_version(path)
    assert len(before) == 12 and before == contents_version(path)
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert contents_version(path) != before


def test_shipped_loader_requires_kind_and_split(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "text": "One."}\n', encoding="utf-8")
    with pytest.raises(ContentFormatError, match="line 1: field 'kind'"):
        load_contents(path=path)


def test_user_loader_infers_kind_and_split(tmp_path: Path) -> None:
    lines = [{"id": f"s{i}", "text": f"Sentence number {i}."} for i in range(5)]
    lines.append({"id": "p0", "text": "First sentence. Second sentence."})
    lines.append({"id": "x", "text": "Forced.", "kind": "paragraph", "split": "heldout"})
    path = tmp_path / "user.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    contents = load_user_contents(path)
    assert [c.id for c in contents] == ["s0", "s1", "s2", "s3", "s4", "p0", "x"]
    assert [c.split for c in contents[:5]] == ["discovery", "heldout", "discovery", "heldout", "discovery"]
    assert contents[5].kind == "paragraph" and contents[5].split == "discovery"
    assert contents[6].kind == "paragraph" and contents[6].split == "heldout"


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
