"""Incremental parser for a top-level JSON array that may be cut off mid-element: yields each complete element."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from saif_ui.engine.errors import SaifError


@dataclass
class ParseReport:
    """What the streaming parser saw: records decoded, whether the array was closed, characters left at the tail."""

    records: int = 0
    complete: bool = False
    tail_chars: int = 0


_WHITESPACE = " \t\r\n"
# A decode error caused by the buffer ending mid-record lies within a few characters of the buffer's end (e.g. a cut
# `true` or number); "Unterminated string" is the exception: it is reported at the opening quote, so a genuinely
# unclosed string mid-file reads on to the end and is reported as a truncated tail.
_TAIL_SLACK = 16


def iter_json_array(
    stream: TextIO, *, limit: int | None = None, chunk_chars: int = 1 << 20, report: ParseReport | None = None
) -> Iterator[Any]:
    """Yield the elements of a top-level JSON array one by one, reading `chunk_chars` at a time.

    The array may be cut off anywhere (the shipped ShareGPT file ends mid-record): every complete element is yielded
    and the incomplete tail is skipped silently; `report` records how many characters were left. Malformed JSON that
    is not at the tail raises ValueError.

    Example:
        >>> list(iter_json_array(io.StringIO('[{"a": 1}, {"b": 2}, {"c"')))
        [{'a': 1}, {'b': 2}]
    """
    report = report if report is not None else ParseReport()
    decoder = json.JSONDecoder()
    buf, pos, consumed, eof = "", 0, 0, False
    expect: Literal["[", "value", "sep"] = "["
    while limit is None or report.records < limit:
        while pos < len(buf) and buf[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(buf):
            if eof:
                report.tail_chars = 0
                return  # ends after whitespace: cut between elements (or an empty file)
            consumed += pos
            buf, pos, eof = _refill(stream, buf, pos, chunk_chars)
            continue
        char = buf[pos]
        if expect == "[":
            if char != "[":
                raise SaifError(f"expected a JSON array ('[') at char {consumed + pos}, found {char!r}")
            pos, expect = pos + 1, "value"
        elif char == "]":
            report.complete, report.tail_chars = True, 0
            return
        elif expect == "sep":
            if char != ",":
                raise SaifError(f"expected ',' or ']' between array elements at char {consumed + pos}, found {char!r}")
            pos, expect = pos + 1, "value"
        else:
            try:
                value, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as err:
                if not (err.msg.startswith("Unterminated string") or err.pos >= len(buf) - _TAIL_SLACK):
                    raise SaifError(f"malformed JSON at char {consumed + err.pos}: {err.msg}") from err
                if eof:
                    report.tail_chars = len(buf) - pos
                    return
                consumed += pos
                buf, pos, eof = _refill(stream, buf, pos, chunk_chars)
                continue
            if not isinstance(value, dict | list | str) and not eof and len(buf) - end <= _TAIL_SLACK:
                consumed += pos  # a number cut as "12." or "1e" decodes short: wait for the rest
                buf, pos, eof = _refill(stream, buf, pos, chunk_chars)
                continue
            report.records += 1
            pos, expect = end, "sep"
            yield value


def _refill(stream: TextIO, buf: str, pos: int, chunk_chars: int) -> tuple[str, int, bool]:
    """Drop the consumed prefix of the buffer and append one chunk; returns (buffer, 0, at_eof)."""
    chunk = stream.read(chunk_chars)
    return buf[pos:] + chunk, 0, chunk == ""
