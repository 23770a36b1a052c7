"""Prompted compliance: how often the model follows each catalogue instruction when it is told to.

An instruction the model cannot follow when told cannot be steered either; the catalogue stores this rate (measured
on held-out contents with the canonical wording) so the UI can warn before anyone tries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.discover import pick_contents
from saif_ui.saif.inputs.catalogue import DEFAULT_CATALOGUE_PATH, load_catalogue
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.steering.compare import Decoding, run_modes
from saif_ui.saif.steering.spec import SteeringSpec

DECODING = Decoding(max_new_tokens=48)
CONFIDENCE = 0.95


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a binomial rate (statsmodels' `proportion_confint`, method "wilson").

    Wilson rather than the normal approximation: at the rates that matter here (0 %, 100 %, small n) the normal
    interval collapses to a point or leaves [0, 1]. (0.0, 1.0) for n = 0.

    Example:
        >>> [round(x, 3) for x in wilson_interval(8, 10)]
        [0.49, 0.943]
    """
    if not 0 <= successes <= n:
        raise SaifError(f"successes must lie in 0..n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    # Exactly 0 and 1 at the ends (the formula leaves rounding dust such as 3e-18).
    return (0.0 if successes == 0 else float(low)), (1.0 if successes == n else float(high))


def prompted_compliance(
    engine: Engine, instruction_ids: Sequence[str] | None = None, n_contents: int = 16, decoding: Decoding = DECODING
) -> dict[str, dict[str, Any]]:
    """Strict and loose rates of the prompted (content + canonical instruction, post) answers per instruction, each
    with its n and 95 % Wilson interval (`strict_ci`, `loose_ci`)."""
    catalogue = load_catalogue()
    ids = list(instruction_ids or catalogue.ids)
    contents = [(c.id, c.text) for c in pick_contents(load_contents("heldout"), n_contents)]
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


def write_compliance(rates: dict[str, dict[str, Any]], about: str, path: Path = DEFAULT_CATALOGUE_PATH) -> None:
    """Store the strict rates as `prompted_compliance` in the catalogue file, keeping everything else as it is;
    `about` (model, contents, decoding) goes into the file's `prompted_compliance_about`."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["prompted_compliance_about"] = about
    for entry in data["instructions"]:
        if entry["id"] in rates:
            entry["prompted_compliance"] = round(rates[entry["id"]]["strict"], 3)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
