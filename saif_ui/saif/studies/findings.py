"""`python -m saif_ui findings`: write docs/FINDINGS.md from the study results shipped under docs/studies/.

Nothing is generated here: every number comes from a shipped study document (each with the key that made it, see
`studies.shipped`), so a fresh checkout regenerates the same document in a second. `findings.json` indexes what the
document was written from: each study's key digest, provenance and run time, plus the catalogue and contents
versions. The claims section states each paper claim beside what this model showed, whichever way it went. Each
study's claim lines and section come from its declaration (`studies.study.Study`), in the registry's order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saif_ui.engine.config import shipped_saes
from saif_ui.provenance import command_line, git_commit
from saif_ui.resources import output_dir
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import SPLITS, contents_version
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.steering.recipe import load_recipes
from saif_ui.saif.studies.registry import studies as declared
from saif_ui.saif.studies.shipped import STUDIES_DIR
from saif_ui.saif.studies.study import Docs, Study

DOCS = STUDIES_DIR.parent
SCREEN_ORDER = 26
"""Where the screen's entry stands in findings.json, among the studies' `index_order`s (after the steering study's)."""


def load_studies(root: Path = STUDIES_DIR, study: str = "steering") -> Docs:
    """Every shipped document of one study (default: the steering study) by item."""
    folder = root / study
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


def claims(registry: list[Study], shipped: dict[str, Docs]) -> list[str]:
    """Each paper claim beside what this model showed, computed from the shipped results: first the studies of SAIF's
    and FAST's main claims, then a note naming the re-measuring studies (`Study.pending`) not shipped yet, then
    theirs."""
    lines = [line for s in registry if s.pending is None and shipped[s.name] for line in s.claim(shipped[s.name])]
    missing = [s.pending for s in registry if s.pending is not None and not shipped[s.name]]
    if missing:
        lines.append(
            "- **Not yet re-measured under this protocol** (the earlier n = 16 figures, chosen and reported on the "
            f"same contents, were withdrawn): {'; '.join(missing)}. Each needs its own study with test contents, "
            "intervals and a control before this document states it."
        )
    lines += [line for s in registry if s.pending is not None and shipped[s.name] for line in s.claim(shipped[s.name])]
    return lines


def _searched_layers() -> str:
    """The layers the shipped recipes' searches tried, and any shipped SAE's layer they did not (an SAE shipped after
    the recipes were chosen is studied by the layers study, not by the recipes)."""
    by_layers: dict[tuple[int, ...], list[str]] = {}
    for iid, r in load_recipes().items():
        layers = tuple(sorted({int(c["layer"]) for c in r.validation.get("candidates", [])}))
        by_layers.setdefault(layers, []).append(iid)
    shipped = sorted({int(json.loads((Path(p) / "manifest.json").read_text())["layer"]) for p in shipped_saes()})
    parts = []
    for layers, ids in sorted(by_layers.items()):
        text = ", ".join(f"L{x}" for x in layers) or "none"
        if len(by_layers) > 1:
            text += " for " + ", ".join(f"`{i}`" for i in sorted(ids))
        later = [x for x in shipped if x not in layers]
        if later:
            names = ", ".join(f"L{x}" for x in later)
            text += f" ({names}, shipped after these recipes were chosen, is in the layers study)"
        parts.append(text)
    return "; ".join(parts) or "none"


def findings_index(registry: list[Study], shipped: dict[str, Docs], screen: dict[str, Any] | None) -> dict[str, Any]:
    """What the document was written from (findings.json): who wrote it, the data versions it was written against,
    and every study document with its key."""
    blocks: list[tuple[int, str, Any]] = [
        (
            SCREEN_ORDER,
            "screen",
            None if screen is None else {"provenance": screen["provenance"], "kept": screen["kept"]},
        )
    ]
    for s in registry:
        entries = {
            f"{s.name}/{item}": {k: d[k] for k in ("key_digest", "key", "provenance", "seconds")} | s.index_extra(d)
            for item, d in shipped[s.name].items()
        }
        blocks.append((s.order if s.index_order is None else s.index_order, s.index_key, entries))
    return {
        "provenance": {
            "git_commit": git_commit(),
            "command": command_line(),
            "contents": {s: contents_version(s) for s in SPLITS},
            "catalogue": load_catalogue().version,
            "checkers": CHECKERS_VERSION,
        },
        **{name: block for _, name, block in sorted(blocks, key=lambda b: b[0])},
    }


def write_findings(out_dir: Path | None = None, studies_root: Path = STUDIES_DIR) -> Path:
    """Write FINDINGS.md, figures/ and findings.json into `out_dir` from the shipped studies; returns the path."""
    out_dir = out_dir or output_dir("docs")
    registry = declared()
    shipped = {s.name: load_studies(studies_root, s.name) for s in registry}
    screen_path = studies_root.parent / "screen.json"
    screen = json.loads(screen_path.read_text(encoding="utf-8")) if screen_path.exists() else None
    out_dir.mkdir(parents=True, exist_ok=True)
    index = findings_index(registry, shipped, screen)
    (out_dir / "findings.json").write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md = [
        "# Findings: steering SmolLM2-135M-Instruct with SAE latents",
        "",
        "Generated by `python -m saif_ui findings` from the study results shipped in [studies/](studies/) "
        "(indexed, with their keys and provenance, in [findings.json](findings.json)); do not edit by hand.",
        "",
        "## Protocol",
        "",
        "- **Contents** (`assets/contents.jsonl`): three disjoint splits, statements and paragraphs balanced — "
        "*discovery* (latent selection), *validation* (the instruction screen and every tunable choice), *test* "
        "(reporting only; written after the validation contents were fixed).",
        "- **Instructions**: those the model follows when told in at least 60% of validation contents, from a "
        "screen of 35 candidates ([SCREEN.md](SCREEN.md)); studied here: every one with a shipped recipe.",
        "- **Recipe** (`assets/recipes.json`, `python -m saif_ui choose-recipe`): per instruction, the layer, "
        "number of latents, α, positions and decay chosen on validation contents only (the layers "
        f"{_searched_layers()}, "
        "k ∈ {1, 5}, α ∈ {1, 2, 4, 8} × the latents' mean activation, generated-only positions, token-wise decay; "
        "the stage winner confirmed on all validation contents).",
        "- **Success**, the headline verdict: the answer passes the instruction's strict checker, is not a loop "
        "(repetition ≤ 0.5), and is faithful: its chrF (sacrebleu) to the model's own prompted answer for the same "
        "content reaches the threshold chosen on validation (the 95th percentile of chrF between prompted answers to "
        "*different* contents of the same kind). The prompted answers are that reference, so their success is their "
        "fluent-strict rate. chrF to the content itself is shown too (across languages it hardly separates one "
        "content from another); each chrF has its mismatched control in brackets.",
        "- Every rate has its n and 95% Wilson interval; every comparison on the same contents McNemar's exact "
        "test (statsmodels). Greedy decoding, 48 new tokens; random controls are seeded.",
        "",
        "## Claims and what this model showed",
        "",
        *claims(registry, shipped),
        "",
    ]
    for s in sorted(registry, key=lambda s: s.order if s.section_order is None else s.section_order):
        docs = shipped[s.name]
        md += s.section(docs, out_dir / "figures") if docs else list(s.unshipped)
    path = out_dir / "FINDINGS.md"
    path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return path
