"""Dataclasses read back from their JSON records (a cached result, a shipped file, an upload)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from saif_ui.engine.errors import SaifError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def from_fields(cls: type[T], data: Mapping[str, Any], what: str) -> T:
    """The dataclass `cls` from a record's entries that are its fields: unknown keys are ignored (a record written by
    a later version still loads), a missing required one is a SaifError `not {what}: ...`."""
    try:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
    except (TypeError, KeyError) as err:
        raise SaifError(f"not {what}: {err}") from None
