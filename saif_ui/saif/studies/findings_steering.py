"""The steering study in FINDINGS.md: its claim lines, the summary by instruction with its figure, and each
instruction's table of methods and first answers, from its shipped documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NotRequired, TypedDict

from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.judge.stats import PairedDict
from saif_ui.saif.studies.findings_sections import GAIN, above, clears_bar, figure, n_each, plotted, table, tally
from saif_ui.saif.studies.findings_sections import ci as _ci
from saif_ui.saif.studies.findings_sections import p_value as _p
from saif_ui.saif.studies.findings_sections import pct as _pct
from saif_ui.saif.studies.findings_sections import quote as _quote
from saif_ui.saif.studies.study import ClaimVerdict, Docs, Glance

METHODS = (
    "original",
    "prompted",
    "steered",
    "prompted_steered",
    "mean_difference",
    "random_latents",
    "random_direction",
    "top1_matched",
)
"""The steering study's methods, in its tables' order."""


class MethodBlock(TypedDict):
    """One method of a steering result: its rates (`evaluate.Summary`), tests, answers and, when steered, its vector's
    norm and α."""

    success: float
    fluent_strict: float
    strict: float
    n: int
    ci: dict[str, list[float]]
    chrf: dict[str, float]
    paired: dict[str, PairedDict]
    outputs: list[dict[str, Any]]
    norm: NotRequired[float]
    alpha: NotRequired[float]


class RecipeSummary(TypedDict):
    """`Recipe.summary()`: what a result says of the recipe it measured."""

    method: str
    layer: int
    latents: list[int]
    k: int
    alpha: float
    positions: str
    decay: float
    fidelity_threshold: float
    validation: dict[str, Any]


class SteeringResult(TypedDict):
    """A shipped result of the steering study (`steering_study.run_instruction`)."""

    instruction: str
    checker: str
    recipe: RecipeSummary
    contents: list[str]
    n: int
    headline: str
    methods: dict[str, MethodBlock]


class SteeringVerdict(TypedDict):
    gain: float
    passed: bool
    best_control: str
    beats_control_p: float
    outcome: ClaimVerdict


CONTROLS = ("mean_difference", "random_latents", "random_direction", "top1_matched")
LABELS = {
    "original": "original (no instruction, no steering)",
    "prompted": "prompted (instruction given)",
    "steered": "**steered** (validated recipe, no instruction)",
    "prompted_steered": "prompted + steered",
    "mean_difference": "mean-difference vector (CAA), α tuned on validation",
    "random_latents": "random latents, same norm",
    "random_direction": "random direction, same norm",
    "top1_matched": "top-1 latent alone, same norm",
}
FIGURE = "steering_methods.png"
"""The figure of success by method, drawn with the summary by instruction."""
STEERS = "SAIF: steering with instruction-relevant latents makes the model follow an instruction it was not given"
PROMPTING = "AxBench: prompting beats steering"
SEVERAL = "SAIF: several latents steer better than one"


def verdict(result: SteeringResult) -> SteeringVerdict:
    """Whether steering clears the bar for one instruction: the gain over `original`, its interval, the best
    control, and a one-word outcome."""
    m = result["methods"]
    steered, original = m["steered"], m["original"]
    gain = steered["success"] - original["success"]
    low = steered["ci"]["success"][0]
    best_control = max(CONTROLS, key=lambda c: (m[c]["success"], c))
    passed = clears_bar(steered["success"], low, original["success"])
    return {
        "gain": gain,
        "passed": passed,
        "best_control": best_control,
        "beats_control_p": m[best_control]["paired"]["steered"]["p"],
        "outcome": "reproduced" if passed else ("partial" if low > original["success"] else "not reproduced"),
    }


def _paired_vs(block: MethodBlock, name: str) -> str:
    paired = block.get("paired", {}).get(name)
    return "–" if paired is None else _p(paired["p"])


def _method_table(result: SteeringResult) -> list[str]:
    m = result["methods"]
    columns = (
        "method", "success [95% CI]", "fluent strict", "strict", "chrF to content (mismatched)",
        "chrF to prompted (mismatched)", "p vs original", "p vs steered",
    )  # fmt: skip
    rows = []
    for name in METHODS:
        b = m[name]
        c = b["chrf"]
        rows.append(
            [
                LABELS[name],
                _ci(b),
                _pct(b["fluent_strict"]),
                _pct(b["strict"]),
                f"{c['content']:.1f} ({c['content_mismatched']:.1f})",
                f"{c['prompted']:.1f} ({c['prompted_mismatched']:.1f})",
                "–" if name == "original" else _paired_vs(b, "original"),
                "–" if name == "steered" else _paired_vs(b, "steered"),
            ]
        )
    return table(columns, rows)


def _examples(result: SteeringResult, n: int = 2) -> list[str]:
    m = result["methods"]
    shown = ("original", "prompted", "steered")
    rows = [
        [f"`{result['contents'][i]}`", *(_example(m[name]["outputs"][i]) for name in shown)]
        for i in range(min(n, result["n"]))
    ]
    return table(("content", *shown), rows)


def _example(output: dict[str, Any]) -> str:
    """An answer as a table shows it: ✓ or ✗ (success), then its text, quoted."""
    return f"{'✓' if output['success'] else '✗'} {_quote(output['text'])}"


def _plot(studies: dict[str, dict[str, Any]], path: Path) -> None:
    import numpy as np

    ids = list(studies)
    shown = ("original", "prompted", "steered", "mean_difference", "random_latents", "random_direction")
    with figure(path, figsize=(max(6.0, 1.6 * len(ids) + 2), 3.8)) as (_, ax):
        width = 0.8 / len(shown)
        for j, name in enumerate(shown):
            rates = np.array([studies[i]["result"]["methods"][name]["success"] for i in ids])
            cis = np.array([studies[i]["result"]["methods"][name]["ci"]["success"] for i in ids])
            err = np.vstack([rates - cis[:, 0], cis[:, 1] - rates]) * 100
            ax.bar(np.arange(len(ids)) + (j - len(shown) / 2 + 0.5) * width, 100 * rates, width, yerr=err,
                   capsize=2, label=name.replace("_", " "))  # fmt: skip
        ax.set_xticks(np.arange(len(ids)), ids)
        ax.set_ylabel("success, % (compliant, no loop, faithful)")
        ax.set_ylim(0, 105)
        ax.legend(fontsize=7, ncol=3)


def _in_categories(ids: list[str]) -> str:
    """' in N categories (a, b)' of the catalogue categories `ids` belong to (nothing when `ids` is empty): issue
    11's bar asks for at least 2."""
    if not ids:
        return ""
    catalogue = load_catalogue()
    cats = sorted({catalogue.get(i).category for i in ids})
    return f" in {len(cats)} categor{'y' if len(cats) == 1 else 'ies'} ({', '.join(cats)})"


def _results(studies: Docs) -> dict[str, SteeringResult]:
    return {i: d["result"] for i, d in studies.items()}


def _passed(results: dict[str, SteeringResult]) -> list[str]:
    """The instructions that clear the bar (`verdict`)."""
    return [i for i, r in results.items() if verdict(r)["passed"]]


def _vs_control(result: SteeringResult) -> tuple[bool, bool]:
    """Whether steering is significantly above its best control, and whether that control is significantly above
    it (success, McNemar)."""
    m, v = result["methods"], verdict(result)
    steered, control = m["steered"]["success"], m[v["best_control"]]["success"]
    return above(steered, control, v["beats_control_p"]), above(control, steered, v["beats_control_p"])


def _vs_prompted(result: SteeringResult) -> tuple[float, float, float]:
    """Prompted and steered success, and McNemar's p between them."""
    m = result["methods"]
    return m["prompted"]["success"], m["steered"]["success"], m["steered"]["paired"]["prompted"]["p"]


def _vs_top1(result: SteeringResult) -> tuple[float, float, float]:
    """The recipe's and the norm-matched top-1 latent's success, and McNemar's p between them."""
    m = result["methods"]
    return m["steered"]["success"], m["top1_matched"]["success"], m["top1_matched"]["paired"]["steered"]["p"]


def _several(results: dict[str, SteeringResult]) -> dict[str, SteeringResult]:
    """The recipes with several latents (their top-1 control is a comparison with one)."""
    return {i: r for i, r in results.items() if r["recipe"]["k"] > 1}


def steering_claims(studies: Docs) -> list[str]:
    """The claims the steering study measures (steering works, beats simple controls, prompting, several latents)."""
    results = _results(studies)
    lines = []
    parts, beats = [], []
    for iid, r in results.items():
        v = verdict(r)
        m = r["methods"]
        parts.append(
            f"`{iid}` {_pct(m['original']['success'])} → {_ci(m['steered'])} ({100 * v['gain']:+.0f} points, "
            f"{v['outcome']}; prompted {_pct(m['prompted']['success'])})"
        )
        beats.append(
            f"`{iid}` steered {_pct(m['steered']['success'])} vs {v['best_control'].replace('_', ' ')} "
            f"{_pct(m[v['best_control']]['success'])} (McNemar p {_p(v['beats_control_p'])})"
        )
    passed = _passed(results)
    lines.append(
        f"- **{STEERS}** — success on test contents: {'; '.join(parts)}. The bar (≥ {100 * GAIN:.0f} points with the "
        f"interval's lower bound above the unsteered rate) is met for {len(passed)} of {len(studies)} "
        f"instructions ({', '.join(passed) or 'none'}){_in_categories(passed)}."
    )
    lines.append(
        "- **Do the SAE latents add anything over simple controls?** (best of mean-difference, random latents, "
        f"random direction and the top-1 latent at the same norm): {'; '.join(beats)}."
    )
    lines.append(
        f"- **{PROMPTING}** — "
        + "; ".join(
            f"`{i}` prompted {_pct(prompted)} vs steered {_pct(steered)} (p {_p(p)})"
            for i, r in results.items()
            for prompted, steered, p in [_vs_prompted(r)]
        )
        + "."
    )
    top1 = [
        f"`{i}` top-{r['recipe']['k']} {_pct(steered)} vs top-1 {_pct(one)} (p {_p(p)})"
        for i, r in _several(results).items()
        for steered, one, p in [_vs_top1(r)]
    ]
    if top1:
        lines.append(f"- **{SEVERAL}** (at the same vector norm): " + "; ".join(top1) + ".")
    return lines


def _steers_verdict(results: dict[str, SteeringResult]) -> ClaimVerdict:
    """SAIF's main claim: *reproduced* when the bar is met in at least two catalogue categories (issue 11), *partial*
    when it is met for fewer, or some interval is above the unsteered rate without the gain, *not reproduced*
    otherwise."""
    passed = _passed(results)
    catalogue = load_catalogue()
    if len({catalogue.get(i).category for i in passed}) >= 2:
        return "reproduced"
    return (
        "partial" if passed or any(verdict(r)["outcome"] == "partial" for r in results.values()) else "not reproduced"
    )


def steering_glance(studies: Docs) -> list[Glance]:
    """The steering study's claims at a glance: counts over the instructions, the best case with its interval."""
    results = _results(studies)
    n = n_each(r["n"] for r in results.values())
    passed = _passed(results)
    best = max(results, key=lambda i: verdict(results[i])["gain"])
    m = results[best]["methods"]
    rows = [
        Glance(
            STEERS,
            'SAIF: steering reaches "over 30% strict accuracy"',
            f"{len(passed)} of {len(results)} instructions gain ≥ {100 * GAIN:.0f} points{_in_categories(passed)}; "
            f"best `{best}` {_pct(m['original']['success'])} → {_ci(m['steered'])} ({n})",
            _steers_verdict(results),
            FIGURE,
        )
    ]
    wins = [_vs_control(r) for r in results.values()]
    top = max(results, key=lambda i: results[i]["methods"]["steered"]["success"])
    m, control = results[top]["methods"], verdict(results[top])["best_control"]
    rows.append(
        Glance(
            "SAE latents steer better than simple controls (mean difference, random latents or direction, top-1)",
            "AxBench: SAE 0.165, below DiffMean 0.239",
            f"steered above its best control (p < 0.05) for {sum(w for w, _ in wins)} of {len(results)}, below for "
            f"{sum(lose for _, lose in wins)}; best steered `{top}` {_ci(m['steered'])} vs "
            f"{control.replace('_', ' ')} {_pct(m[control]['success'])} ({n})",
            tally(sum(w for w, _ in wins), len(results), sum(lose for _, lose in wins), question=True),
            FIGURE,
        )
    )
    ahead = sum(above(*_vs_prompted(r)) for r in results.values())
    behind = sum(above(s, pr, p) for pr, s, p in map(_vs_prompted, results.values()))
    m = results[top]["methods"]
    rows.append(
        Glance(
            PROMPTING,
            "AxBench: prompting 0.894 beats every steering method; SAE 0.165",
            f"prompted above steered (p < 0.05) for {ahead} of {len(results)}, below for {behind}; best steered "
            f"`{top}` {_ci(m['steered'])} vs prompted {_pct(m['prompted']['success'])} ({n})",
            tally(ahead, len(results), behind),
            FIGURE,
        )
    )
    several = _several(results)
    if several:
        better = sum(above(*_vs_top1(r)) for r in several.values())
        worse = sum(above(one, s, p) for s, one, p in map(_vs_top1, several.values()))
        top = max(several, key=lambda i: _vs_top1(several[i])[0] - _vs_top1(several[i])[1])
        r = several[top]
        rows.append(
            Glance(
                f"{SEVERAL} (top-k vs the top-1 latent at the same norm)",
                "SAIF: several latents are needed, not one",
                f"top-k above top-1 (p < 0.05) for {better} of {len(several)} recipes with k > 1, below for {worse}; "
                f"best `{top}` top-{r['recipe']['k']} {_ci(r['methods']['steered'])} vs top-1 "
                f"{_pct(r['methods']['top1_matched']['success'])} ({n_each(x['n'] for x in several.values())})",
                tally(better, len(several), worse),
            )
        )
    return rows


def steering_section(studies: Docs, figs: Path) -> list[str]:
    """The summary by instruction (with its figure) and each instruction's section."""
    md: list[str] = []
    columns = (
        "instruction", "category", "n", "original", "prompted", "steered [95% CI]", "gain",
        "steered fluent strict (not judged on fidelity)", "best control", "recipe", "fidelity threshold", "outcome",
    )  # fmt: skip
    rows = []
    catalogue = load_catalogue()
    for iid, doc in studies.items():
        r: SteeringResult = doc["result"]
        v = verdict(r)
        m, rec = r["methods"], r["recipe"]
        decay = f", decay {rec['decay']:g}" if rec["decay"] else ""
        rows.append(
            [
                f"`{iid}`",
                catalogue.get(iid).category,
                r["n"],
                _ci(m["original"]),
                _ci(m["prompted"]),
                _ci(m["steered"]),
                f"{100 * v['gain']:+.0f}",
                f"{_pct(m['steered']['fluent_strict'])} (original {_pct(m['original']['fluent_strict'])})",
                f"{v['best_control'].replace('_', ' ')} {_pct(m[v['best_control']]['success'])}",
                f"L{rec['layer']}, k={rec['k']}, α={rec['alpha']:g}, {rec['positions']}{decay}",
                f"chrF ≥ {rec['fidelity_threshold']:g}",
                v["outcome"],
            ]
        )
    md += ["## Summary by instruction (test contents)", "", *table(columns, rows)]
    md += [
        "",
        "Outcome: *reproduced* when the bar is met; *partial* when the interval's lower bound is above the "
        "unsteered rate but the gain is under the bar; *not reproduced* otherwise.",
        "",
        *plotted(_plot, studies, figs, FIGURE, "success by method"),
        "",
        "## Each instruction on test contents: recipe, methods and first answers",
        "",
    ]
    for iid, doc in studies.items():
        r = doc["result"]
        rec = r["recipe"]
        val = rec["validation"]
        md += [
            f"### `{iid}` ({r['checker']} checker)",
            "",
            f"Recipe: {rec['method']} at layer {rec['layer']}, latents {', '.join(map(str, rec['latents']))}, "
            f"α = {rec['alpha']:g} × mean activation, positions `{rec['positions']}`, decay {rec['decay']:g}; "
            f"chosen on {val['n']} validation contents (success {val['successes']}/{val['n']}, "
            f"[{100 * val['ci'][0]:.0f}, {100 * val['ci'][1]:.0f}]%). Test: n = {r['n']}; study key "
            f"`{doc['key_digest']}`, commit `{doc['provenance']['git_commit'][:12]}`, {doc['seconds']:.0f} s.",
            "",
            *_method_table(r),
            "",
            "First test contents (✓ success, ✗ not); every text is in "
            f"[studies/steering/{iid}.json](studies/steering/{iid}.json):",
            "",
            *_examples(r),
            "",
        ]
    return md


def index_extra(doc: dict[str, Any]) -> dict[str, Any]:
    """What findings.json shows of a steering document: each method's rate, interval and n, and the verdict."""
    return {
        "summary": {name: {k: doc["result"]["methods"][name][k] for k in ("success", "ci", "n")} for name in METHODS},
        "verdict": verdict(doc["result"]),
    }
