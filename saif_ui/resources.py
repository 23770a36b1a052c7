"""Where saif_ui's read-only data lives: the shipped SAEs, catalogue, candidates, contents and recipes (`assets/`), and
the shipped study results and documents the app shows (`docs/`); and where commands write by default.

The data is found, in this order: the folder named by `SAIF_DATA_DIR` (it holds `assets/` and `docs/`); the installed
package (a wheel carries both folders inside `saif_ui/`); the source checkout this package runs from (the repository
root, where the Space runs). Commands that write (ship-assets, findings, screen --write, choose-recipe --write, the
studies) take an output folder; without one they write into the checkout, or `SAIF_DATA_DIR` when it is set, never
into an installed package.

This module imports nothing from saif_ui, so every room may use it.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Literal

DATA_DIR_ENV = "SAIF_DATA_DIR"
"""Environment variable naming a folder that holds `assets/` and `docs/` (read, and written by default)."""

Kind = Literal["assets", "docs"]


class DataDirError(ValueError):
    """The data or the folder to write into cannot be found; the message says where it looked and what to pass."""


def package_dir() -> Path:
    """The folder of the `saif_ui` package as imported (a checkout's `saif_ui/` or site-packages' `saif_ui/`)."""
    return Path(str(files("saif_ui")))


def checkout_dir() -> Path | None:
    """The source checkout this package runs from (the folder holding `pyproject.toml`, `assets/` and `saif_ui/`),
    or None when the package is installed elsewhere."""
    root = package_dir().parent
    return root if (root / "pyproject.toml").is_file() and (root / "assets").is_dir() else None


def data_dir() -> Path:
    """The folder holding `assets/` and `docs/`: `SAIF_DATA_DIR`, else the installed package's, else the checkout.
    Read at each call; the modules that name a data file at import (`DEFAULT_CATALOGUE_PATH`, `STUDIES_DIR`, …) read
    it then.

    >>> (data_dir() / "assets" / "instructions.json").is_file()
    True
    """
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    installed = package_dir()
    if (installed / "assets").is_dir():
        return installed
    # Neither: the package's own folder, so that a missing file is reported where an install keeps it (modules
    # name their data at import, and importing must not fail).
    return checkout_dir() or installed


def assets_dir() -> Path:
    """`assets/`: the shipped SAEs (`saes/`), catalogue, candidates, contents and recipes."""
    return data_dir() / "assets"


def docs_dir() -> Path:
    """`docs/`: the shipped study results (`studies/`), the findings and the documents the app shows."""
    return data_dir() / "docs"


def asset(name: str) -> Path:
    """One file or folder under `assets/` (e.g. `asset("recipes.json")`)."""
    return assets_dir() / name


def doc(name: str) -> Path:
    """One file or folder under `docs/` (e.g. `doc("FINDINGS.md")`)."""
    return docs_dir() / name


def output_dir(kind: Kind) -> Path:
    """Where a command writes `assets/` or `docs/` files when it is given no folder: under `SAIF_DATA_DIR`, else the
    checkout's. An installed package is never written into: without a checkout this is a `DataDirError`."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser() / kind
    checkout = checkout_dir()
    if checkout is None:
        raise DataDirError(
            f"saif_ui runs from an installed package ({package_dir()}), whose {kind}/ is read-only: pass an output "
            f"folder (--out) or set {DATA_DIR_ENV} to a folder holding assets/ and docs/"
        )
    return checkout / kind


def refuse_installed(path: Path) -> Path:
    """`path` itself, or a `DataDirError` when it lies inside the installed package (its files belong to the
    installer); a checkout's `assets/` and `docs/` sit outside `saif_ui/` and are writable."""
    resolved = Path(path).expanduser().resolve()
    if resolved.is_relative_to(package_dir().resolve()):
        raise DataDirError(
            f"{path} is inside the installed saif_ui package, which is read-only: copy it to a folder of your own "
            f"first, or set {DATA_DIR_ENV}"
        )
    return path
