"""Where the data is found: the checkout, the environment override, an installed package; and where writes go."""

from __future__ import annotations

from pathlib import Path

import pytest

from saif_ui import resources
from saif_ui.resources import DataDirError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv(resources.DATA_DIR_ENV, raising=False)


def _installed(tmp_path: Path, monkeypatch, with_data: bool = True) -> Path:
    """Pretend saif_ui runs from site-packages: its folder holds assets/ and docs/ (or not), and no checkout."""
    package = tmp_path / "site" / "saif_ui"
    for kind in ("assets", "docs") if with_data else ():
        (package / kind).mkdir(parents=True)
    package.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(resources, "package_dir", lambda: package)
    return package


def test_a_checkout_reads_and_writes_its_own_folders():
    assert resources.checkout_dir() == REPO
    assert resources.data_dir() == REPO
    assert resources.assets_dir() == REPO / "assets"
    assert resources.docs_dir() == REPO / "docs"
    assert resources.asset("recipes.json") == REPO / "assets" / "recipes.json"
    assert resources.asset("recipes.json").is_file() and resources.doc("studies").is_dir()
    assert resources.output_dir("assets") == REPO / "assets"
    assert resources.output_dir("docs") == REPO / "docs"
    assert resources.refuse_installed(REPO / "assets" / "saes") == REPO / "assets" / "saes"


def test_the_environment_names_another_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(resources.DATA_DIR_ENV, str(tmp_path))
    assert resources.data_dir() == tmp_path
    assert resources.asset("instructions.json") == tmp_path / "assets" / "instructions.json"
    assert resources.doc("FINDINGS.md") == tmp_path / "docs" / "FINDINGS.md"
    assert resources.output_dir("docs") == tmp_path / "docs"  # commands write where they read
    monkeypatch.setenv(resources.DATA_DIR_ENV, "  ")
    assert resources.data_dir() == REPO  # blank: unset


def test_an_installed_package_reads_its_data_and_refuses_writes(tmp_path, monkeypatch):
    package = _installed(tmp_path, monkeypatch)
    assert resources.checkout_dir() is None
    assert resources.data_dir() == package
    assert resources.assets_dir() == package / "assets"
    with pytest.raises(DataDirError, match=r"installed package .*read-only: pass an output folder \(--out\)"):
        resources.output_dir("docs")
    with pytest.raises(DataDirError, match="inside the installed saif_ui package"):
        resources.refuse_installed(package / "assets" / "saes" / "L08")
    assert resources.refuse_installed(tmp_path / "mine") == tmp_path / "mine"
    monkeypatch.setenv(resources.DATA_DIR_ENV, str(tmp_path / "data"))
    assert resources.output_dir("assets") == tmp_path / "data" / "assets"  # the override makes writes possible


def test_a_package_without_its_data_points_at_where_it_should_be(tmp_path, monkeypatch):
    package = _installed(tmp_path, monkeypatch, with_data=False)
    assert resources.data_dir() == package  # importing still works; reading a file names this folder


def test_a_checkout_needs_its_project_file_and_assets(tmp_path, monkeypatch):
    package = tmp_path / "repo" / "saif_ui"
    package.mkdir(parents=True)
    monkeypatch.setattr(resources, "package_dir", lambda: package)
    assert resources.checkout_dir() is None  # a saif_ui/ folder alone is not a checkout
    (package.parent / "pyproject.toml").write_text("")
    (package.parent / "assets").mkdir()
    assert resources.checkout_dir() == package.parent
    assert resources.data_dir() == package.parent


def test_commands_that_write_refuse_an_installed_package_before_any_work(tmp_path, monkeypatch):
    from saif_ui.saif.steering.recipe import load_recipes, save_recipe
    from saif_ui.saif.studies.compliance import write_compliance
    from saif_ui.saif.studies.findings import write_findings
    from saif_ui.saif.studies.screen_report import write_catalogue, write_screen
    from saif_ui.saif.studies.shipped import run_or_load

    recipe = next(iter(load_recipes().values()))
    _installed(tmp_path, monkeypatch)
    ran: list[int] = []
    writes = {
        "save_recipe": lambda: save_recipe(recipe),
        "run_or_load": lambda: run_or_load("steering", "new", {"k": 1}, lambda: ran.append(1) or {}, log=print),
        "write_findings": lambda: write_findings(),
        "write_screen": lambda: write_screen({}),
        "write_catalogue": lambda: write_catalogue({}),
        "write_compliance": lambda: write_compliance({}, "about"),
    }
    for name, write in writes.items():
        with pytest.raises(DataDirError, match="read-only"):
            write()
        assert not list(tmp_path.rglob("*.*")), name
    assert not ran  # a study that could not ship its result does not run
