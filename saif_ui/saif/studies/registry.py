"""Every study that ships results under docs/studies/: the `Study` each module of this package declares.

A new study is one new module here declaring `STUDY = Study(...)`; the staleness test, the command line and
FINDINGS.md find it through `studies()`. The modules that read the registry (this one and the findings document) are
not searched, so no study module may import them.
"""

from __future__ import annotations

import importlib
import pkgutil

from saif_ui.saif import studies as package
from saif_ui.saif.studies.study import Study

READERS = ("registry", "findings")
"""Modules of the package that read the registry (prefixes), never searched for a study."""


def studies() -> list[Study]:
    """Every declared study, in FINDINGS.md's order."""
    found = []
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith(READERS):
            continue
        study = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "STUDY", None)
        if isinstance(study, Study):
            found.append(study)
    return sorted(found, key=lambda s: (s.order, s.name))


def by_name() -> dict[str, Study]:
    """Every declared study by its folder name."""
    return {s.name: s for s in studies()}
