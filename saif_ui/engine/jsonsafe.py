"""Reading JSON a visitor sent (a steering spec, an exploration, an uploaded cfg.json) with bounded cost."""

from __future__ import annotations

import json
from typing import Any

from saif_ui.engine.errors import SaifError

MAX_JSON_BYTES = 4 * 2**20
"""Largest JSON text read from a request or an upload: an exploration with every table is well under 1 MB."""
MAX_JSON_DEPTH = 32
"""Deepest nesting accepted: saif_ui's files nest five levels; Python's parser would otherwise recurse until it
fails with an error that tells a user nothing."""


def loads(text: str | bytes, what: str = "the file", max_bytes: int = MAX_JSON_BYTES) -> Any:
    """`json.loads` that refuses, with a message naming `what`, text over `max_bytes`, nesting deeper than
    `MAX_JSON_DEPTH`, invalid JSON and non-standard numbers (NaN, Infinity)."""
    if len(text) > max_bytes:
        raise SaifError(f"{what} is {len(text) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:g} MB")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise SaifError(f"{what} is not UTF-8 text: {err}") from None
    depth = _max_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise SaifError(f"{what} nests {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted")

    def no_constant(name: str) -> Any:
        raise SaifError(f"{what} holds {name}, which is not a number JSON allows")

    try:
        return json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as err:
        raise SaifError(f"{what} is not valid JSON: {err}") from None


class StringScanner:
    """Where a character of JSON text stands: inside a string (or escaped in one) or in the structure. The one scan
    the depth check here and the JSON checkers' prefix test (`saif.judge.predicates`) both walk."""

    def __init__(self) -> None:
        self.in_string = False
        self.escaped = False

    def structural(self, ch: str) -> bool:
        """Take the next character; True when it lies outside every string (a quote itself is not structural)."""
        if self.in_string:
            if self.escaped:
                self.escaped = False
            elif ch == "\\":
                self.escaped = True
            elif ch == '"':
                self.in_string = False
            return False
        if ch == '"':
            self.in_string = True
            return False
        return True


def _max_depth(text: str) -> int:
    """Deepest bracket nesting outside strings; stops at the first level past the limit (a linear scan, bounded by
    `max_bytes`)."""
    depth = deepest = 0
    scan = StringScanner()
    for ch in text:
        if not scan.structural(ch):
            continue
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest
