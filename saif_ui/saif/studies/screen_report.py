"""Publishing the screen: the shipped catalogue (assets/instructions.json), docs/screen.json and docs/SCREEN.md, and
the terminal table, from a `run_screen` result."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from saif_ui.resources import output_dir
from saif_ui.saif.inputs.catalogue import CANDIDATES_PATH, DEFAULT_CATALOGUE_PATH, load_catalogue
from saif_ui.saif.studies.screen import CATALOGUE_FILE_VERSION, RETAINED, UNTOLD_WARN

# ---------------------------------------------------------------- the shipped catalogue


def write_catalogue(
    result: dict[str, Any],
    candidates_path: Path = CANDIDATES_PATH,
    path: Path | None = None,
    retained: dict[str, str] | None = None,
) -> Path:
    """Write the shipped catalogue: the kept candidates (in candidate order) with their measured strict rate, then
    any dropped id of `retained` (default `RETAINED`) flagged with its reason. Returns the path."""
    path = path or output_dir("assets") / DEFAULT_CATALOGUE_PATH.name
    retained = RETAINED if retained is None else retained
    rows = {r["id"]: r for r in result["candidates"]}
    entries = json.loads(candidates_path.read_text(encoding="utf-8"))["instructions"]
    kept, kept_back = [], []
    for entry in entries:
        row = rows.get(entry["id"])
        if row is None:
            continue
        entry = {**entry, "prompted_compliance": round(row["strict"], 3)}
        if row["kept"]:
            kept.append(entry)
        elif entry["id"] in retained:
            kept_back.append({**entry, "retained": retained[entry["id"]]})
    cfg, prov = result["config"], result["provenance"]
    data = {
        "version": CATALOGUE_FILE_VERSION,
        "about": (
            "SAIF instruction catalogue: each instruction is appended after a content passage (post-instruction "
            "placement). Wordings vary in phrasing and language so selected latents capture the instruction, not its "
            f"words. The instructions are those of assets/candidates.json that the model follows when told in at "
            f"least {cfg['keep_at']:.0%} of validation contents (strict); see docs/SCREEN.md. An entry with `retained` "
            "was dropped by the screen but stays because other code names it."
        ),
        "prompted_compliance_about": (
            f"strict rate of {prov['model']} on {cfg['n']} validation contents, canonical wording after the content, "
            f"greedy, {cfg['max_new_tokens']} new tokens (python -m saif_ui screen --write, commit "
            f"{prov['git_commit']}, checkers v{prov['checkers_version']}); 95% Wilson intervals in docs/screen.json"
        ),
        "instructions": kept + kept_back,
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- the published screen


def _pct(rate: float, ci: Sequence[float]) -> str:
    return f"{100 * rate:.0f}% [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]"


def _cell(text: str, limit: int = 70) -> str:
    flat = " ".join(text.split())
    flat = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return flat.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;") or "(empty)"


def screen_markdown(result: dict[str, Any]) -> str:
    """docs/SCREEN.md: every candidate, kept and dropped, with n, rates and intervals, and the provenance."""
    prov, cfg, rows, gen = result["provenance"], result["config"], result["candidates"], result["generation"]
    kept = [r for r in rows if r["kept"]]
    categories = list(dict.fromkeys(r["category"] for r in rows))
    per_cat = [
        f"{c} {sum(r['kept'] for r in rows if r['category'] == c)}/{sum(r['category'] == c for r in rows)}"
        for c in categories
    ]
    catalogue = load_catalogue()
    retained = [i for i in catalogue if i.retained]
    lines = [
        "# Which instructions SmolLM2-135M-Instruct follows when told",
        "",
        "<!-- Written by `python -m saif_ui screen --write` (saif_ui/saif/studies/screen.py); do not edit by hand. -->",
        "",
        f"Provenance: commit `{prov['git_commit']}`, model `{prov['model']}` ({prov['dtype']}), contents "
        f"`{prov['contents_version']}`, candidates `{prov['candidates_version']}`, checkers "
        f"v{prov['checkers_version']}, screen v{prov['screen_version']}, shipped catalogue `{catalogue.version}`; "
        f"command `{prov['command']}`; {result['seconds']:.0f} s, "
        f"{gen['chunks_generated']} of {gen['chunks_generated'] + gen['chunks_cached']} chunks of {gen['chunk']} "
        "answers generated in that run (the rest read from its generation cache, keyed by model, wording, content ids "
        "and decoding).",
        "",
        f"Each of the {len(rows)} candidates in `assets/candidates.json` was appended in its canonical wording after "
        f"each of n = {cfg['n']} validation contents (post placement, default system prompt, greedy, "
        f"{cfg['max_new_tokens']} new tokens) and judged by its deterministic checker (`saif_ui/saif/judge/checkers.py`"
        "; languages by langdetect, seeded). **strict** judges the raw answer; **loose** also accepts IFEval's relaxed "
        f"variants (first/last line dropped, `*` removed); **fluent** counts a strict pass only when the answer is not "
        f"a loop (repetition ≤ {cfg['repetition_limit']}); **untold** is the strict rate of the same checker on the "
        "answers to the contents alone, without any instruction (what the model does anyway). Brackets: 95% Wilson "
        "intervals (statsmodels). "
        f"A candidate is **kept** when strict ≥ {cfg['keep_at']:.0%}."
        + (
            f" Two stages: every candidate was first measured on {cfg['n_first_stage']} contents; one whose strict "
            f"interval lay wholly below {cfg['keep_at']:.0%} stopped there (n = {cfg['n_first_stage']} in the table), "
            f"the others went on to all {cfg['n']}."
            if cfg["n_first_stage"] < cfg["n"]
            else ""
        ),
        "",
        f"**Kept {len(kept)} of {len(rows)}** ({', '.join(per_cat)}): "
        + (", ".join(f"`{r['id']}`" for r in kept) or "none")
        + ". The kept ones, with their strict rate as `prompted_compliance`, are the shipped catalogue "
        "(`assets/instructions.json`).",
    ]
    if retained:
        lines += [
            "",
            "Dropped but still in the catalogue, flagged `retained` because other code names the id: "
            + "; ".join(f"`{i.id}` ({i.retained})" for i in retained)
            + ".",
        ]
    high_untold = [r for r in kept if r["untold_strict"] >= UNTOLD_WARN]
    if high_untold:
        lines += [
            "",
            f"Kept, but their checker already passes at least {UNTOLD_WARN:.0%} of the answers given without the "
            "instruction, so part of the compliance is what the model does anyway and steering has less to show: "
            + ", ".join(f"`{r['id']}` (untold {_pct(r['untold_strict'], r['untold_strict_ci'])})" for r in high_untold)
            + ".",
        ]
    lossy = [r for r in kept if r["strict"] - r["fluent_strict"] >= UNTOLD_WARN]
    if lossy:
        lines += [
            "",
            "Kept, but at least "
            f"{UNTOLD_WARN:.0%} of their answers pass the checker while looping (strict minus fluent strict): "
            + ", ".join(f"`{r['id']}` (fluent {r['fluent_strict']:.0%} of {r['strict']:.0%})" for r in lossy)
            + ". A language checker judges the language, not the translation: read the examples.",
        ]
    lines += [
        "",
        "| candidate | category | checker | n | strict | loose | fluent strict | untold | kept |",
        "|---|---|---|---:|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['id']}` | {r['category']} | `{r['checker']}` | {r['n']} | {_pct(r['strict'], r['strict_ci'])} | "
            f"{_pct(r['loose'], r['loose_ci'])} | {_pct(r['fluent_strict'], r['fluent_strict_ci'])} | "
            f"{_pct(r['untold_strict'], r['untold_strict_ci'])} | {'**kept**' if r['kept'] else 'dropped'} |"
        )
    lines += [
        "",
        "## Wordings, checkers and examples",
        "",
        "One passing and one failing answer per candidate where there are both (all examples in `docs/screen.json`).",
        "",
        "| candidate | canonical wording | checker | example (content: verdict) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        example = "<br>".join(
            f"{e['content']}: {'pass' if e['strict'] else 'fail'} — {_cell(e['output'])}" for e in r["examples"]
        )
        lines.append(
            f"| `{r['id']}` | {_cell(r['canonical'], 90)} | {_cell(r['checker_description'], 80)} | {example} |"
        )
    lines += [
        "",
        "Limits: one greedy answer per content and the canonical wording only; answers are cut at "
        f"{cfg['max_new_tokens']} new tokens, so an instruction about the end of the answer (`ends_with_*`, "
        "`postscript`) fails whenever the model is still talking at the limit; a language checker judges the "
        "language, not the quality of the translation (see the fluent column and the examples); `formal` is a proxy "
        "(no contractions, no exclamation mark), not a judgement of register.",
        "",
    ]
    return "\n".join(lines)


def write_screen(result: dict[str, Any], docs: Path | None = None) -> tuple[Path, Path]:
    """Write docs/screen.json (the whole result) and docs/SCREEN.md; returns both paths."""
    docs = docs or output_dir("docs")
    docs.mkdir(parents=True, exist_ok=True)
    json_path, md_path = docs / "screen.json", docs / "SCREEN.md"
    json_path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(screen_markdown(result), encoding="utf-8")
    return json_path, md_path


def screen_table(result: dict[str, Any]) -> str:
    """A plain-text table for the terminal."""
    head = f"{'candidate':>17} {'category':>9} {'n':>3} {'strict [95% CI]':>17} {'loose':>5} {'untold':>6}  kept"
    lines = [head]
    for r in result["candidates"]:
        ci = f"{100 * r['strict']:.0f}% [{100 * r['strict_ci'][0]:.0f},{100 * r['strict_ci'][1]:.0f}]"
        lines.append(
            f"{r['id']:>17} {r['category']:>9} {r['n']:>3} {ci:>17} {100 * r['loose']:>4.0f}% "
            f"{100 * r['untold_strict']:>5.0f}%  {'yes' if r['kept'] else 'no'}"
        )
    lines.append(f"kept {len(result['kept'])} of {len(result['candidates'])} ({result['seconds']:.0f} s)")
    return "\n".join(lines)
