"""Adding a study is one new module: the registry, the staleness test's index, the command line and FINDINGS.md find
a module that declares a `Study`, with no other edit."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from saif_ui import cli
from saif_ui.cli import studies as cli_studies
from saif_ui.saif import studies as package
from saif_ui.saif.studies.findings import write_findings
from saif_ui.saif.studies.registry import by_name, studies

DUMMY = '''
"""A study that counts nothing, for the registry's test."""

from saif_ui.saif.studies.study import Glance, Study


def key_for(engine, item):
    return {"study": "dummy", "v": 1, "item": item}


def run(engine, items, /, *, force=False, log=print):
    return {i: {"key_digest": "d", "key": key_for(engine, i), "provenance": {}, "seconds": 1.0, "result": {"x": 7}}
            for i in items}


STUDY = Study(
    name="dummy",
    version=1,
    command="dummy-study",
    help="a dummy study",
    key_for=key_for,
    run=run,
    summary=lambda item, doc: [f"{item}: x {doc['result']['x']}"],
    order=85,
    section=lambda docs, figs: ["## Dummy", "", *(f"- {i}: {d['result']['x']}" for i, d in docs.items()), ""],
    claim=lambda docs: [f"- **Dummy claim** — {len(docs)} shipped."],
    glance=lambda docs: [Glance("Dummy claim", "none", f"{len(docs)} shipped", "supported")],
    pending="a dummy claim",
)
'''
SHIPPED = {
    "steering", "proximity", "special", "placement", "layers", "ablation", "fast_vs_bt", "selection", "joint", "distil",
}  # fmt: skip


def _reload_cli() -> None:
    importlib.reload(cli_studies)
    importlib.reload(cli)


@pytest.fixture
def dummy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`dummy_study.py` dropped into the studies package (a folder added to its path), and the CLI rebuilt."""
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "dummy_study.py").write_text(DUMMY, encoding="utf-8")
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    _reload_cli()
    yield by_name()["dummy"]
    monkeypatch.undo()
    sys.modules.pop(f"{package.__name__}.dummy_study", None)
    _reload_cli()


def test_every_shipped_study_is_declared_once_in_findings_order() -> None:
    found = studies()
    assert {s.name for s in found} >= SHIPPED and len({s.command for s in found}) == len(found)
    assert [s.name for s in found][:3] == ["steering", "proximity", "special"]
    assert all(s.command in cli.COMMANDS for s in found)


def test_a_new_module_is_found_by_the_index_the_cli_and_findings(dummy, tmp_path, monkeypatch, capsys) -> None:
    assert dummy.key_for(None, "french") == {
        "study": "dummy",
        "v": 1,
        "item": "french",
    }  # what the staleness test reads
    assert [s.name for s in studies()].index("dummy") == [s.name for s in studies()].index("selection") + 1

    args = cli.build_parser().parse_args(["dummy-study", "--instructions", "french", "--force"])
    assert args.instructions == "french" and args.force
    monkeypatch.setattr(cli_studies, "engine_from_args", lambda args, warmup=True: None)
    assert cli.main(["dummy-study", "--instructions", "french"]) == 0
    assert capsys.readouterr().out.splitlines() == ["french: x 7"]

    root = tmp_path / "studies"
    text = write_findings(tmp_path / "out", root).read_text(encoding="utf-8")
    assert "a dummy claim" in text and "## Dummy" not in text  # named as not yet measured
    (root / "dummy").mkdir(parents=True)
    doc = {"key_digest": "d", "key": {"v": 1}, "provenance": {}, "seconds": 1.0, "result": {"x": 7}}
    (root / "dummy" / "french.json").write_text(json.dumps(doc), encoding="utf-8")
    text = write_findings(tmp_path / "out", root).read_text(encoding="utf-8")
    assert "\n\n- **Dummy claim** — 1 shipped.\n\n</details>\n" in text  # folded
    assert "## Dummy\n\n<details><summary>The method</summary>\n\n- french: 7\n\n</details>\n" in text
    assert "| Dummy claim | none | 1 shipped | supported | – |" in text  # its row at a glance
    assert "a dummy claim" not in text
    index = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert index["dummy"] == {"dummy/french": {k: doc[k] for k in ("key_digest", "key", "provenance", "seconds")}}


def test_every_study_summarises_and_renders_its_shipped_documents(tmp_path: Path) -> None:
    from saif_ui.saif.studies.findings import load_studies

    for study in studies():
        docs = load_studies(study=study.name)
        if not docs:  # a new study before its first run
            continue
        for item, doc in docs.items():
            lines = study.summary(item, doc)
            assert lines and all(line.startswith(item) for line in lines)
        assert study.claim(docs) and study.section(docs, tmp_path)[0].startswith("## ")
        assert study.glance(docs), f"{study.name} states a claim but has no row at a glance"


def test_the_cards_the_parser_is_built_from_read_the_declarations() -> None:
    from saif_ui.saif.studies.registry import cards

    found = studies()
    assert [c.command for c in cards()] == [s.command for s in found]
    for card, study in zip(cards(), found, strict=True):
        assert card.study() is study and (card.help, card.order) == (study.help, study.order)
        option = study.option
        assert (card.flag, card.option_help, card.default) == (
            (None, None, None) if option is None else (option.flag, option.help, option.default)
        )
