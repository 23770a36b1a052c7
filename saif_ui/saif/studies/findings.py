"""`python -m saif_ui findings`: write docs/FINDINGS.md from the study results shipped under docs/studies/.

Nothing is generated here: every number comes from a shipped study document (each with the key that made it, see
`studies.shipped`), so a fresh checkout regenerates the same document in a second. `findings.json` indexes what the
document was written from: each study's key digest, provenance and run time, plus the catalogue and contents
versions. The document opens with the claims at a glance (a table: claim, the seed's evidence, what this model
showed, the verdict, a figure), then states each paper claim beside what this model showed, whichever way it went,
and every study's tables, all folded (`<details>`) so the page stays short. Each study's glance rows, claim lines and
section come from its declaration (`studies.study.Study`), in the registry's order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from saif_ui.engine.config import shipped_saes
from saif_ui.provenance import command_line, git_commit
from saif_ui.resources import output_dir
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import SPLITS, contents_version
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.steering.recipe import load_recipes
from saif_ui.saif.studies.findings_sections import fold, table
from saif_ui.saif.studies.registry import studies as declared
from saif_ui.saif.studies.shipped import STUDIES_DIR
from saif_ui.saif.studies.study import Docs, Glance, Study

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


def glances(registry: list[Study], shipped: dict[str, Docs]) -> list[Glance]:
    """Every shipped study's claims at a glance, in the registry's order."""
    return [g for s in registry if shipped[s.name] for g in s.glance(shipped[s.name])]


GLANCE_INTRO = (
    "Each claim the shipped studies test: the seed paper's evidence, what this model showed (counts over the "
    "instructions, SAEs, seeds or pairs, with n and a 95% Wilson interval where the study has one; p < 0.05 is "
    "McNemar's exact test on the same contents unless the row names another test) and the verdict, with the figure "
    "where the study draws one. Each row is computed from the shipped results by the code of the claim lines below, "
    "which fold out, as do every study's tables."
)
VERDICT_NOTE = (
    "Verdicts: a seed paper's claim is *reproduced* when every item shows it (SAIF's steering claim: the bar met in "
    "two or more catalogue categories), *partial* when some do and none shows the opposite, *mixed* when some show "
    "each, *not reproduced* when none does; this project's own questions are *supported*, *mixed* or *not supported*."
)


def glance_lines(rows: list[Glance]) -> list[str]:
    """The claims-at-a-glance table: a row per claim, its figure linked beside the document."""
    return table(
        ("claim", "seed's evidence", "this model", "verdict", "figure"),
        (
            [*(_cell(x) for x in (g.claim, g.seed, g.showed)), g.verdict,
             f"[figure](figures/{g.figure})" if g.figure else "–"]
            for g in rows
        ),
    )  # fmt: skip


def _cell(text: str) -> str:
    """Text as a table cell: on one line, its pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


_TITLE = re.compile(r"^- \*\*(.+?)\*\*( \([^()]*\))?")


def fold_claims(lines: list[str]) -> list[str]:
    """Each claim line folded under its bold title (and the remark in brackets right after it)."""
    md: list[str] = []
    for line in lines:
        title = _TITLE.match(line)
        md += fold(title.group(1) + (title.group(2) or "") if title else line[:80], [line])
    return md


def fold_sections(lines: list[str]) -> list[str]:
    """A study's section with each `## ` heading kept (its anchor and place in the outline) and what it heads
    folded: its introduction and tables under a summary naming them, each `### ` subsection under its own
    heading's text. Lines before the first heading (a study not shipped yet) stay as they are."""
    md: list[str] = []
    for heading, body in _split(lines, "## "):
        if heading is None:
            md += body
            continue
        md += [heading, ""]
        for sub, block in _split(body, "### "):
            if sub is not None:
                md += fold(sub.removeprefix("### "), block)
            elif any(x.strip() for x in block):
                md += fold(_describe(block), block)
    return md


def _split(lines: list[str], prefix: str) -> list[tuple[str | None, list[str]]]:
    """`lines` cut before each line starting with `prefix`: (that heading, or None for the lines before the first
    one, and the lines under it)."""
    parts: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in lines:
        if line.startswith(prefix):
            parts.append((line, []))
        else:
            parts[-1][1].append(line)
    return [(h, body) for h, body in parts if h is not None or any(x.strip() for x in body)]


def _describe(block: list[str]) -> str:
    """The summary of a folded block: what it holds ('The method, 2 tables and a figure'); the method is the prose
    a section opens with."""
    first = next(x for x in block if x.strip())
    tables = sum(x.startswith("|---") for x in block)
    figures = sum(x.startswith("![") for x in block)
    parts = [
        "the method" if not first.startswith(("|", "![")) else "",
        f"{tables} table{'s' if tables > 1 else ''}" if tables else "",
        ("a figure" if figures == 1 else f"{figures} figures") if figures else "",
    ]
    named = [p for p in parts if p]
    text = ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else named[0]
    return text[0].upper() + text[1:]


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
        "## Claims at a glance",
        "",
        GLANCE_INTRO,
        "",
        *glance_lines(glances(registry, shipped)),
        "",
        VERDICT_NOTE,
        "",
        "## Claims and what this model showed",
        "",
        *fold_claims(claims(registry, shipped)),
    ]
    for s in sorted(registry, key=lambda s: s.order if s.section_order is None else s.section_order):
        docs = shipped[s.name]
        md += fold_sections(s.section(docs, out_dir / "figures")) if docs else list(s.unshipped)
    path = out_dir / "FINDINGS.md"
    path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return path
