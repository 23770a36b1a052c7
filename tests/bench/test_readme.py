"""The README's Performance section is written from a results file, never by hand: the block is replaced whole,
the rest of the README is kept, and the newest full run wins over a quick run of the same day."""

from __future__ import annotations

import json

import pytest

from bench.readme import END, START, newest, write_readme
from bench.timing import Figure


def record(date: str, quick: bool, value: float) -> dict:
    return {
        "date": date,
        "commit": "abc1234",
        "quick": quick,
        "seconds": 12,
        "machine": {"cpu": "Test CPU", "cores": 2, "torch": "2.13.0", "torch_threads": 2, "gpu": None},
        "figures": [Figure("P1", "steered / plain", value, 0.97).to_dict(), Figure("P5w", "start", 30.0, 20.0, "<=",
                                                                                  "s").to_dict()],
    }  # fmt: skip


def test_the_section_is_rewritten_from_the_newest_full_run(tmp_path) -> None:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "2026-11-30-x.json").write_text(json.dumps(record("2026-11-30", False, 0.5)))
    (results / "2026-12-01-x-quick.json").write_text(json.dumps(record("2026-12-01", True, 0.8)))
    (results / "2026-12-01-x.json").write_text(json.dumps(record("2026-12-01", False, 0.99)))
    (results / "load-2026-12-02-x.json").write_text("{}")  # load results are not this section's
    (results / "2026-12-02-x-P1.json").write_text(json.dumps({**record("2026-12-02", False, 0.1), "only": ["P1"]}))
    assert newest(results).name == "2026-12-01-x.json"
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## Performance\n\n{START}\nold text\n{END}\n\n## Next\nkept\n")
    write_readme(tmp_path, results)
    text = readme.read_text()
    assert "old text" not in text and text.startswith("# Title") and text.endswith("## Next\nkept\n")
    assert "| P1 | steered / plain | 0.99 × | >= 0.97 | yes |" in text
    assert "| P5w | start | 30 s | <= 20 | **no** |" in text
    assert "Test CPU, 2 cores" in text and "commit abc1234" in text


def test_a_readme_without_the_block_is_an_error(tmp_path) -> None:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "2026-12-01-x.json").write_text(json.dumps(record("2026-12-01", False, 1.0)))
    (tmp_path / "README.md").write_text("# no block\n")
    with pytest.raises(SystemExit, match="no <!-- performance:start -->"):
        write_readme(tmp_path, results)


def test_figure_verdicts() -> None:
    assert Figure("a", "", 1.0, 0.97).met is True
    assert Figure("a", "", 0.9, 0.97).met is False
    assert Figure("a", "", 10.0, 20.0, "<=").met is True
    assert Figure("a", "", None, 1.0).met is None and Figure("a", "", 1.0, None, "report").met is None
