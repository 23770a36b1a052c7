"""The README's Performance section, generated from the newest `bench/results/*.json` (never typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

START, END = "<!-- performance:start -->", "<!-- performance:end -->"


def table(figures: list[dict[str, Any]]) -> str:
    rows = ["| id | figure | value | target | met |", "|---|---|---|---|---|"]
    for f in figures:
        target = "–" if f["target"] is None else f"{f['kind']} {f['target']:g}"
        met = {True: "yes", False: "**no**", None: "–"}[f["met"]]
        value = "–" if f["value"] is None else f"{f['value']:g} {f['unit']}"
        note = f" ({f['note']})" if f.get("note") else ""
        rows.append(f"| {f['id']} | {f['figure']}{note} | {value} | {target} | {met} |")
    return "\n".join(rows)


def newest(results: Path) -> Path:
    """The newest whole run (a full run before a quick one of the same day); load results and `--only` runs are
    not this section's."""
    runs = {p: json.loads(p.read_text()) for p in sorted(results.glob("*.json")) if not p.name.startswith("load-")}
    whole = {p: r for p, r in runs.items() if not r.get("only")}
    if not whole:
        raise SystemExit(f"no whole run in {results}: run python -m bench first")
    return max(whole, key=lambda p: (whole[p]["date"], not whole[p]["quick"]))


def section(record: dict[str, Any], path: Path) -> str:
    m = record["machine"]
    where = f"{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads)"
    if m.get("gpu"):
        where += f", GPU {m['gpu']}"
    mode = "quick run" if record["quick"] else "full run"
    return "\n".join(
        [
            START,
            f"Measured by `python -m bench{' --quick' if record['quick'] else ''}` ({mode}, {record['seconds']} s) at "
            f"commit {record['commit']} on {record['date']}: {where}. Every value is a ratio (or a time) measured in "
            f"that one run; raw timings are in `{path.as_posix()}`.",
            "",
            table(record["figures"]),
            END,
        ]
    )


def write_readme(root: Path, results: Path) -> Path:
    path = newest(results)
    record = json.loads(path.read_text())
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} … {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + section(record, path.relative_to(root)) + tail, encoding="utf-8")
    return path
