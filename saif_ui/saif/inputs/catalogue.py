"""The instruction catalogue: instruction types, their wordings in several languages, and their compliance checkers."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saif_ui.engine.errors import SaifError
from saif_ui.resources import asset
from saif_ui.saif.judge.checkers import CHECKERS, checker_ids

DEFAULT_CATALOGUE_PATH = asset("instructions.json")
CANDIDATES_PATH = asset("candidates.json")
"""Every instruction the screen (`python -m saif_ui screen`) measures; the kept ones are copied into the catalogue."""

MIN_REWORDINGS = 5
"""SAIF varies the wording of each instruction so the selected latents capture the instruction, not its words."""
MIN_TRANSLATIONS = 2
"""...and its language, for the same reason (SAIF, Stage 1)."""
CUSTOM_CATEGORY = "custom"

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_MEASURED = frozenset({"prompted_compliance", "retained"})
"""Optional fields that record measurements, not wordings: editing them leaves the catalogue version unchanged."""
_FIELDS = frozenset({"id", "category", "canonical", "rewordings", "translations", "checker", "description", *_MEASURED})
_REQUIRED = _FIELDS - _MEASURED


class UnknownInstructionError(SaifError, KeyError):
    """Raised by `Catalogue.get` for an id not in the catalogue; the message lists the valid ids."""

    def __str__(self) -> str:
        # KeyError's default str() wraps the message in quotes; show it as written.
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Translation:
    """The instruction written in another language; `lang` is an ISO 639-1 code as langdetect reports it."""

    lang: str
    text: str


@dataclass(frozen=True)
class Instruction:
    """One instruction type: what SAIF appends after a content to build a positive example.

    Args:
        id: short key (`french`, `json`, or `custom_<hash>` for user instructions).
        category: grouping for the UI (language, format, case, content, custom).
        canonical: the default wording, short and imperative.
        rewordings: other English wordings of the same instruction.
        translations: the instruction written in other languages.
        checker: id in `checkers.CHECKERS` that judges compliance; None for a custom instruction without one.
        description: one line for the UI.
        prompted_compliance: share of contents the model follows when prompted; None until measured.
        retained: why an instruction that failed the screen (`python -m saif_ui screen`, docs/SCREEN.md) stays in the
            shipped catalogue (other code names its id); None for one the model follows when told.
    """

    id: str
    category: str
    canonical: str
    rewordings: tuple[str, ...] = ()
    translations: tuple[Translation, ...] = ()
    checker: str | None = None
    description: str = ""
    prompted_compliance: float | None = field(default=None, compare=False)
    retained: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise SaifError(f"instruction id {self.id!r} must match {_ID.pattern}")
        for text in self.variants():
            if not text.strip():
                raise SaifError(f"instruction {self.id!r} has an empty wording")
        if self.checker is not None and self.checker not in CHECKERS:
            valid = ", ".join(checker_ids())
            raise SaifError(f"instruction {self.id!r} names unknown checker {self.checker!r}; valid checkers: {valid}")
        if self.prompted_compliance is not None and not 0.0 <= self.prompted_compliance <= 1.0:
            raise SaifError(f"instruction {self.id!r}: prompted_compliance must lie in [0, 1]")
        if self.retained is not None and (not isinstance(self.retained, str) or not self.retained.strip()):
            raise SaifError(f"instruction {self.id!r}: retained must be a non-empty reason")

    def variants(self) -> tuple[str, ...]:
        """All wordings: canonical, then rewordings, then translations (the set SAIF samples instructions from)."""
        return (self.canonical, *self.rewordings, *(t.text for t in self.translations))

    @property
    def fingerprint(self) -> str:
        """Hash of the wordings and checker: a per-instruction cache key that survives edits to other instructions."""
        payload = json.dumps([self.id, self.variants(), self.checker], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    @classmethod
    def custom(cls, texts: Sequence[str], checker: str | None = None) -> Instruction:
        """Build an instruction from user wordings: the first is canonical, the rest rewordings.

        The id is `custom_` + a hash of the stripped texts, so the same texts always give the same id (and hit the
        same caches), whatever the checker.

        Example:
            >>> Instruction.custom(["Answer like a pirate.", "Talk like a pirate."]).id
            'custom_8f632c9020'
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not a single string")
        cleaned = [text.strip() for text in texts]
        if not cleaned or not all(cleaned):
            raise SaifError("a custom instruction needs at least one non-empty text")
        digest = hashlib.sha256(json.dumps(cleaned, ensure_ascii=False).encode("utf-8")).hexdigest()[:10]
        return cls(
            id=f"custom_{digest}",
            category=CUSTOM_CATEGORY,
            canonical=cleaned[0],
            rewordings=tuple(cleaned[1:]),
            checker=checker,
            description="User-defined instruction.",
        )


@dataclass(frozen=True)
class Catalogue:
    """The instruction types shipped in assets/instructions.json.

    `version` is `v<file version>-<sha256 of the file bytes, 12 hex>`: any edit to the file changes it, so it is safe
    in cache keys.
    """

    instructions: tuple[Instruction, ...]
    version: str
    path: Path | None = None

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self.instructions)

    def __len__(self) -> int:
        return len(self.instructions)

    def __contains__(self, instruction_id: object) -> bool:
        return any(instruction.id == instruction_id for instruction in self.instructions)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(instruction.id for instruction in self.instructions)

    def get(self, instruction_id: str) -> Instruction:
        """Return the instruction with this id; raises `UnknownInstructionError` (a KeyError) listing valid ids."""
        for instruction in self.instructions:
            if instruction.id == instruction_id:
                return instruction
        raise UnknownInstructionError(f"unknown instruction {instruction_id!r}; valid ids: {', '.join(self.ids)}")


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load and validate the catalogue (default: the repo's assets/instructions.json).

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: malformed JSON, missing or unknown fields, duplicate ids, fewer than `MIN_REWORDINGS` rewordings or
            `MIN_TRANSLATIONS` translations, or a checker id that is not registered.
    """
    source = Path(path) if path is not None else DEFAULT_CATALOGUE_PATH
    raw = source.read_bytes()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise SaifError(f"{source}: invalid JSON ({err})") from err
    if not isinstance(data, dict) or "version" not in data or not isinstance(data.get("instructions"), list):
        raise SaifError(f"{source}: expected an object with 'version' and an 'instructions' list")
    instructions = tuple(_parse_instruction(entry, index, source) for index, entry in enumerate(data["instructions"]))
    _check_unique_ids(instructions, source)
    # Measured rates are not part of the version: re-measuring them must not invalidate discovery caches.
    wordings = [{k: v for k, v in e.items() if k not in _MEASURED} for e in data["instructions"]]
    digest = hashlib.sha256(json.dumps(wordings, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]
    return Catalogue(instructions=instructions, version=f"v{data['version']}-{digest}", path=source)


def _parse_instruction(entry: Any, index: int, source: Path) -> Instruction:
    where = f"{source}: instruction #{index}"
    if not isinstance(entry, dict):
        raise SaifError(f"{where}: expected an object, got {type(entry).__name__}")
    where = f"{source}: instruction {entry.get('id', f'#{index}')!r}"
    missing, unknown = _REQUIRED - entry.keys(), entry.keys() - _FIELDS
    if missing or unknown:
        raise SaifError(f"{where}: missing fields {sorted(missing)}, unknown fields {sorted(unknown)}")
    rewordings = _string_list(entry["rewordings"], f"{where}: rewordings")
    translations = tuple(_parse_translation(item, where) for item in _list(entry["translations"], where))
    if len(rewordings) < MIN_REWORDINGS:
        raise SaifError(f"{where}: needs at least {MIN_REWORDINGS} rewordings, has {len(rewordings)}")
    if len(translations) < MIN_TRANSLATIONS:
        raise SaifError(f"{where}: needs at least {MIN_TRANSLATIONS} translations, has {len(translations)}")
    if entry["checker"] not in CHECKERS:
        raise SaifError(f"{where}: unknown checker {entry['checker']!r}; valid checkers: {', '.join(checker_ids())}")
    try:
        instruction = Instruction(
            id=str(entry["id"]),
            category=str(entry["category"]),
            canonical=str(entry["canonical"]),
            rewordings=rewordings,
            translations=translations,
            checker=entry["checker"],
            description=str(entry["description"]),
            prompted_compliance=entry.get("prompted_compliance"),
            retained=entry.get("retained"),
        )
    except ValueError as err:
        raise SaifError(f"{source}: {err}") from err
    _check_distinct_wordings(instruction, where)
    return instruction


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise SaifError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    items = _list(value, where)
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise SaifError(f"{where}: every item must be a non-empty string")
    return tuple(items)


def _parse_translation(item: Any, where: str) -> Translation:
    if not isinstance(item, dict) or not isinstance(item.get("lang"), str) or not isinstance(item.get("text"), str):
        raise SaifError(f"{where}: each translation must be an object with string 'lang' and 'text', got {item!r}")
    return Translation(lang=item["lang"], text=item["text"])


def _check_distinct_wordings(instruction: Instruction, where: str) -> None:
    # A repeated wording would be sampled twice as often and bias latent selection towards its tokens.
    seen: set[str] = set()
    for text in instruction.variants():
        key = text.strip().casefold()
        if key in seen:
            raise SaifError(f"{where}: wording {text!r} appears twice")
        seen.add(key)


def _check_unique_ids(instructions: Sequence[Instruction], source: Path) -> None:
    seen: set[str] = set()
    for instruction in instructions:
        if instruction.id in seen:
            raise SaifError(f"{source}: duplicate instruction id {instruction.id!r}")
        seen.add(instruction.id)
