"""The content set: neutral English passages that SAIF pairs with and without an instruction."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from saif_ui.engine.errors import SaifError
from saif_ui.resources import asset

Kind = Literal["statement", "paragraph"]
Split = Literal["discovery", "validation", "test"]
SPLITS: tuple[Split, ...] = get_args(Split)

DEFAULT_CONTENTS_PATH = asset("contents.jsonl")
MAX_SHIPPED_WORDS = 60
"""Shipped passages stay short so the 135M model can translate one in a few seconds on CPU."""
MAX_USER_WORDS = 200
"""User passages may be longer, but not unbounded: generation time grows with the answer length."""
SLOTS: dict[int, Split] = {1: "validation", 3: "test"}
"""Positions (index within a kind, mod 5) that go to validation and test; the other three go to discovery: a
deterministic 60/20/20 split balanced by kind, for user files that name no split. The shipped file names its split on
every line (its test passages were written after the recipes' contents were fixed, so nothing was tuned on them)."""

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


class ContentFormatError(SaifError):
    """A bad line in a contents JSONL file; `line` is 1-based."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}, line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class Content:
    """One passage. SAIF builds a positive `[content] + [instruction]` and a negative `[content]` from it."""

    id: str
    text: str
    kind: Kind
    split: Split


def split_for(index_within_kind: int) -> Split:
    """The split of the `index`-th passage of its kind (in file order): of every 5, 3 go to discovery, 1 to
    validation and 1 to test."""
    return SLOTS.get(index_within_kind % 5, "discovery")


def infer_kind(text: str) -> Kind:
    """`statement` for one sentence, `paragraph` for more (counted by sentence-ending punctuation)."""
    return "paragraph" if len(_SENTENCE_END.findall(text.strip())) > 1 else "statement"


def load_contents(split: Split | None = None, path: str | Path | None = None) -> tuple[Content, ...]:
    """Load the shipped content set (default: the repo's assets/contents.jsonl), optionally one split.

    Each line is `{"id", "text", "kind", "split"}`. Raises `ContentFormatError` (a ValueError) naming the bad line.
    The splits: `discovery` (latent selection), `validation` (choosing a steering recipe, screening instructions)
    and `test` (reporting only).

    Example:
        >>> len(load_contents("discovery")) > len(load_contents("test"))
        True
    """
    if split is not None and split not in SPLITS:
        raise SaifError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    source = Path(path) if path is not None else DEFAULT_CONTENTS_PATH
    contents = _parse_lines(source.read_text(encoding="utf-8"), str(source), shipped=True, max_words=MAX_SHIPPED_WORDS)
    return tuple(c for c in contents if split is None or c.split == split)


def contents_version(split: Split | None = None, path: str | Path | None = None) -> str:
    """sha256 (12 hex), for cache keys and provenance: of the file's bytes, or with `split` of that split's passages
    alone (ids, texts, kinds), so adding test passages leaves the discovery and validation versions unchanged."""
    source = Path(path) if path is not None else DEFAULT_CONTENTS_PATH
    if split is None:
        return hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    records = [[c.id, c.text, c.kind] for c in load_contents(split, source)]
    return hashlib.sha256(json.dumps(records, ensure_ascii=False).encode("utf-8")).hexdigest()[:12]


def load_user_contents(path: str | Path, max_words: int | None = MAX_USER_WORDS) -> tuple[Content, ...]:
    """Load a user JSONL file: one `{"id": str, "text": str}` per line; blank lines are skipped.

    Optional `kind` and `split` fields are honoured; otherwise the kind is inferred from the sentence count and the
    split assigned as for the shipped set (`split_for`). Raises `ContentFormatError` with the 1-based line number.
    """
    return parse_user_contents(Path(path).read_text(encoding="utf-8"), source=str(path), max_words=max_words)


def parse_user_contents(
    text: str, source: str = "<upload>", max_words: int | None = MAX_USER_WORDS
) -> tuple[Content, ...]:
    """Like `load_user_contents`, for JSONL already in memory (e.g. a Gradio upload)."""
    contents = _parse_lines(text, source, shipped=False, max_words=max_words)
    if not contents:
        raise SaifError(f"{source}: no passages found")
    return contents


def _parse_lines(text: str, source: str, *, shipped: bool, max_words: int | None) -> tuple[Content, ...]:
    contents: list[Content] = []
    first_line: dict[str, int] = {}
    per_kind: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = _parse_record(line, source, number, shipped=shipped, max_words=max_words)
        if record["id"] in first_line:
            raise ContentFormatError(
                source, number, f"duplicate id {record['id']!r} (first on line {first_line[record['id']]})"
            )
        first_line[record["id"]] = number
        kind = record.get("kind") or infer_kind(record["text"])
        split = record.get("split") or split_for(per_kind.get(kind, 0))
        per_kind[kind] = per_kind.get(kind, 0) + 1
        contents.append(Content(id=record["id"], text=record["text"].strip(), kind=kind, split=split))
    return tuple(contents)


def _parse_record(line: str, source: str, number: int, *, shipped: bool, max_words: int | None) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ContentFormatError(source, number, f"invalid JSON ({err.msg})") from err
    if not isinstance(record, dict):
        raise ContentFormatError(source, number, 'expected an object like {"id": "...", "text": "..."}')
    required = ("id", "text", "kind", "split") if shipped else ("id", "text")
    for key in required:
        if not isinstance(record.get(key), str) or not record[key].strip():
            raise ContentFormatError(source, number, f"field {key!r} must be a non-empty string")
    if not _ID.match(record["id"]):
        raise ContentFormatError(source, number, f"id {record['id']!r} must match {_ID.pattern}")
    for key, allowed in (("kind", get_args(Kind)), ("split", get_args(Split))):
        if key in record and record[key] not in allowed:
            raise ContentFormatError(source, number, f"{key} {record[key]!r} is not one of {', '.join(allowed)}")
    words = len(record["text"].split())
    if max_words is not None and words > max_words:
        raise ContentFormatError(source, number, f"passage has {words} words; the limit is {max_words}")
    return record
