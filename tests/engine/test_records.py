"""Dataclasses read back from their records: unknown keys ignored, a missing field named in a SaifError."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.engine.records import from_fields


@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0


def test_a_record_loads_its_fields_and_ignores_unknown_keys() -> None:
    assert from_fields(Point, {"x": 1, "y": 2, "later": True}, "a point") == Point(1, 2)
    assert from_fields(Point, {"x": 1}, "a point") == Point(1)


def test_a_missing_field_is_a_saif_error_saying_what_the_record_is_not() -> None:
    with pytest.raises(SaifError, match=r"^not a point: .*'x'"):
        from_fields(Point, {"y": 2}, "a point")
