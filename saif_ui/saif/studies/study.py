"""A study declared once: its folder, version, command, key, how it runs, how its result is summarised on the command
line and how it reads in FINDINGS.md. Each study module declares one `STUDY = Study(...)`; `studies.registry` finds
them, and the staleness test, the command line and the findings document loop over what it finds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

if TYPE_CHECKING:
    from saif_ui.engine import Engine

Doc = dict[str, Any]
"""A shipped study document (`studies.shipped.run_or_load`): study, item, key, key_digest, provenance, seconds,
result."""
Docs = dict[str, Doc]
"""A study's shipped documents by item (instruction, SAE, pair or seed)."""
Log = Callable[[str], None]
KeyFor = Callable[["Engine", str], dict[str, Any]]
"""(engine, item) -> the key a current shipped result of that item carries."""


class Run(Protocol):
    """Run (or read back) a study: the items its option chose (None: its default items) -> the shipped documents by
    item."""

    def __call__(self, engine: Engine, items: Any, /, *, force: bool = ..., log: Log = ...) -> Docs: ...


@dataclass(frozen=True)
class Option:
    """The command-line option that chooses a study's items, read before the model loads."""

    flag: str
    help: str
    parse: Callable[[str | None], Any]
    """The option's text (None when absent) -> the items the study's `run` takes; raises `ValueError` on a bad one."""
    default: str | None = None


def check_instruction(instruction: str) -> None:
    """Fail in a second on a typo, before the model loads."""
    from saif_ui.saif.discovery.discover import resolve_instruction
    from saif_ui.saif.inputs.catalogue import UnknownInstructionError

    try:
        resolve_instruction(instruction)
    except UnknownInstructionError as e:
        raise ValueError(str(e)) from None


def instruction_ids(text: str | None) -> tuple[str, ...]:
    """`--instructions` (each checked against the catalogue), or every instruction with a shipped recipe."""
    from saif_ui.saif.steering.recipe import load_recipes

    ids = tuple(i.strip() for i in (text or ",".join(load_recipes())).split(",") if i.strip())
    for i in ids:
        check_instruction(i)
    return ids


INSTRUCTIONS = Option(
    "--instructions",
    "comma-separated catalogue ids (default: every instruction with a validated recipe)",
    instruction_ids,
)
"""The option of the studies run per instruction with a recipe."""


def _no_lines(docs: Docs, figures: Path) -> list[str]:
    return []


def _no_claims(docs: Docs) -> list[str]:
    return []


ClaimVerdict = Literal["reproduced", "partial", "not reproduced", "supported", "mixed", "not supported"]
"""A claim's verdict at a glance: a seed paper's claim is *reproduced*, *partial*, *mixed* or *not reproduced*; a
question of this project's own is *supported*, *mixed* or *not supported* (`findings_sections.tally`)."""
VERDICTS: tuple[ClaimVerdict, ...] = get_args(ClaimVerdict)


@dataclass(frozen=True)
class Glance:
    """One claim at a glance: a row of FINDINGS.md's opening table, computed from the study's shipped results by
    the same functions as its claim line."""

    claim: str
    seed: str
    """The seed paper's evidence in a few words (only what the papers state, see RESEARCH.md)."""
    showed: str
    """What this model showed, one short line: aggregate counts with n and a 95 % interval where the study has one,
    never every instruction."""
    verdict: ClaimVerdict
    figure: str | None = None
    """A file name under the figures folder, when the study draws one for this claim."""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")
        if not all((self.claim, self.seed, self.showed)):
            raise ValueError("a glance needs its claim, the seed's evidence and what this model showed")


def _no_glance(docs: Docs) -> list[Glance]:
    return []


@dataclass(frozen=True)
class Study:
    """One study that ships results under docs/studies/<name>/, one JSON document per item."""

    name: str
    """Its folder under docs/studies/ (and the `study` of its keys)."""
    version: int
    """Part of every key: raise it when the study changes what it measures, and its results rerun."""
    command: str
    """The `python -m saif_ui` command that reruns it."""
    help: str
    key_for: KeyFor
    run: Run
    summary: Callable[[str, Doc], list[str]]
    """(item, document) -> the lines the command prints for it."""
    order: int
    """Its place in FINDINGS.md: claim lines and findings.json entries in this order."""
    option: Option | None = INSTRUCTIONS
    bare_model: bool = False
    """The command loads the model without SAEs (the study trains its own)."""
    section: Callable[[Docs, Path], list[str]] = _no_lines
    """(its shipped documents, the figures folder) -> its FINDINGS.md section; called only when some are shipped."""
    claim: Callable[[Docs], list[str]] = _no_claims
    """Its claim lines in FINDINGS.md; called only when some are shipped."""
    glance: Callable[[Docs], list[Glance]] = _no_glance
    """Its claims at a glance (FINDINGS.md's opening table), from the same numbers as `claim`; called only when some
    are shipped."""
    unshipped: Sequence[str] = ()
    """Its FINDINGS.md section while nothing is shipped."""
    pending: str | None = None
    """A study that re-measures one of the seeds' other claims: what it is about, named in the claims while none of its
    results is shipped (its claim lines then come after that note)."""
    section_order: int | None = None
    """Where its section stands when that differs from `order`."""
    index_order: int | None = None
    """Where its entries stand in findings.json when that differs from `order`."""
    index_name: str | None = None
    """Its block in findings.json (default: its name)."""
    index_extra: Callable[[Doc], dict[str, Any]] = field(default=lambda doc: {})
    """What findings.json shows of a document beyond its key, digest, provenance and run time."""

    @property
    def index_key(self) -> str:
        return self.index_name or self.name
