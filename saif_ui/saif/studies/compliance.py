"""Prompted compliance: how often the model follows each catalogue instruction when it is told to.

An instruction the model cannot follow when told cannot be steered either; the catalogue stores this rate (measured
on validation contents with the canonical wording) so the UI can warn before anyone tries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.resources import output_dir
from saif_ui.saif.discovery.discover import pick_contents
from saif_ui.saif.inputs.catalogue import DEFAULT_CATALOGUE_PATH, load_catalogue
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.judge.stats import wilson_interval
from saif_ui.saif.steering.compare import run_modes
from saif_ui.saif.steering.spec import SteeringSpec

DECODING = Decoding(max_new_tokens=48)


def prompted_compliance(
    engine: Engine, instruction_ids: Sequence[str] | None = None, n_contents: int = 16, decoding: Decoding = DECODING
) -> dict[str, dict[str, Any]]:
    """Strict and loose rates of the prompted (content + canonical instruction, post) answers per instruction, each
    with its n and 95 % Wilson interval (`strict_ci`, `loose_ci`)."""
    catalogue = load_catalogue()
    ids = list(instruction_ids or catalogue.ids)
    contents = [(c.id, c.text) for c in pick_contents(load_contents("validation"), n_contents)]
    out: dict[str, dict[str, Any]] = {}
    for iid in ids:
        instr = catalogue.get(iid)
        if not instr.checker:
            continue
        outputs, _ = run_modes(engine, instr, contents, SteeringSpec(), ["prompted"], decoding=decoding)
        rows = outputs["prompted"]
        strict, loose = sum(bool(o.strict) for o in rows), sum(bool(o.loose) for o in rows)
        out[iid] = {
            "strict": strict / len(rows),
            "loose": loose / len(rows),
            "n": len(rows),
            "strict_ci": list(wilson_interval(strict, len(rows))),
            "loose_ci": list(wilson_interval(loose, len(rows))),
            "example": rows[0].text,
        }
    return out


def write_compliance(rates: dict[str, dict[str, Any]], about: str, path: Path | None = None) -> None:
    """Store the strict rates as `prompted_compliance` in the catalogue file, keeping everything else as it is;
    `about` (model, contents, decoding) goes into the file's `prompted_compliance_about`."""
    path = path or output_dir("assets") / DEFAULT_CATALOGUE_PATH.name
    data = json.loads(path.read_text(encoding="utf-8"))
    data["prompted_compliance_about"] = about
    for entry in data["instructions"]:
        if entry["id"] in rates:
            entry["prompted_compliance"] = round(rates[entry["id"]]["strict"], 3)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
