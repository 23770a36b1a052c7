"""Every study that ships results under docs/studies/: the `Study` each module of this package declares.

A new study is one new module here declaring `STUDY = Study(...)`; the staleness test, the command line and
FINDINGS.md find it through `studies()`. The modules that read the registry (this one and the findings document) are
not searched, so no study module may import them. The command line builds its parser from `cards()`, which reads the
same declarations from the modules' source without importing them (a study imports torch; `--help` must not).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

from saif_ui.saif import studies as package
from saif_ui.saif.studies.study import INSTRUCTIONS, Study

READERS = ("registry", "findings")
"""Modules of the package that read the registry (prefixes), never searched for a study."""


def _modules() -> list[pkgutil.ModuleInfo]:
    return [m for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith(READERS)]


def studies() -> list[Study]:
    """Every declared study, in FINDINGS.md's order."""
    found = []
    for module in _modules():
        study = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "STUDY", None)
        if isinstance(study, Study):
            found.append(study)
    return sorted(found, key=lambda s: (s.order, s.name))


def by_name() -> dict[str, Study]:
    """Every declared study by its folder name."""
    return {s.name: s for s in studies()}


@dataclass(frozen=True)
class Card:
    """What the command line shows of a study (its command, help and option), read from its declaration's source."""

    module: str
    command: str
    help: str
    order: int
    flag: str | None = None
    option_help: str | None = None
    default: str | None = None

    def study(self) -> Study:
        """The declared study itself (imports its module)."""
        study = importlib.import_module(self.module).STUDY
        assert isinstance(study, Study)
        return study


def cards() -> list[Card]:
    """Every declared study's card, in `studies()`'s order, without importing any study module."""
    found = []
    for module in _modules():
        path = Path(getattr(module.module_finder, "path", "")) / f"{module.name}.py"
        if path.is_file():
            card = _card(f"{package.__name__}.{module.name}", path)
            if card is not None:
                found.append(card)
    return sorted(found, key=lambda c: (c.order, c.module))


def _card(module: str, path: Path) -> Card | None:
    """The card of the `STUDY = ...(...)` declaration in `path`, or None when it declares none. Its command, help,
    order and option must be written as literals (or the shared `INSTRUCTIONS` option)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "STUDY" for t in node.targets)
        and isinstance(node.value, ast.Call)
    ]
    if not calls:
        return None
    kw = {k.arg: k.value for k in calls[0].keywords if k.arg}
    try:
        fields = {name: ast.literal_eval(kw[name]) for name in ("command", "help", "order")}
        option = kw.get("option")
        if option is None or (isinstance(option, ast.Name) and option.id == "INSTRUCTIONS"):
            return Card(module, **fields, flag=INSTRUCTIONS.flag, option_help=INSTRUCTIONS.help)
        if isinstance(option, ast.Constant) and option.value is None:
            return Card(module, **fields)
        assert isinstance(option, ast.Call)
        default = next((ast.literal_eval(k.value) for k in option.keywords if k.arg == "default"), None)
        flag, option_help = (ast.literal_eval(a) for a in option.args[:2])
        return Card(module, **fields, flag=flag, option_help=option_help, default=default)
    except (KeyError, ValueError, AssertionError):
        raise ValueError(
            f"{path}: a study's command, help, order and option must be literals (or INSTRUCTIONS) in its `STUDY = ...`"
        ) from None
