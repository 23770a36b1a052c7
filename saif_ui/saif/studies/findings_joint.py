"""The "two instructions at once" section of FINDINGS.md and its claim line, from the shipped joint study."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from saif_ui.saif.judge.stats import PairedDict
from saif_ui.saif.studies.findings_sections import GAIN, Rate, clears_bar, n_each, p_value, quote, section, table, tally
from saif_ui.saif.studies.study import Docs, Glance


class JointMethod(TypedDict):
    """One method's joint and per-instruction rates (`joint_eval.summarise`), its test and its answers."""

    success: Rate
    joint_strict: Rate
    each: dict[str, Rate]
    repetition: float
    chrf_prompted: float | None
    paired_joint: NotRequired[PairedDict]
    outputs: NotRequired[list[dict[str, Any]]]


class JointCell(JointMethod):
    weights: list[float]


class JointValidation(TypedDict):
    n: int
    contents: list[str]
    fidelity_threshold: float
    threshold_source: str
    baselines: dict[str, JointMethod]
    cells: list[JointCell]
    chosen_weights: list[float]


class JointTest(TypedDict):
    n: int
    contents: list[str]
    methods: dict[str, JointMethod]


class JointResult(TypedDict):
    """A shipped result of the joint study (`joint_study.run_pair`)."""

    instructions: list[str]
    wording: str
    recipes: list[dict[str, Any]]
    validation: JointValidation
    weights: list[float]
    fidelity_threshold: float
    test: JointTest


class JointVerdict(TypedDict):
    gain: float
    passed: bool
    best_control: str | None


CLAIM = "SAIF's future work: two instructions at once"
ORDER = ("original", "prompted", "joint", "mean_difference", "random_latents")
LABELS = {
    "original": "original (no instruction, no steering)",
    "prompted": "prompted with both instructions",
    "joint": "**steered by both recipes** (no instruction)",
    "mean_difference": "both mean-difference vectors (CAA), same weights",
    "random_latents": "random latents, each part's norm",
}


def _rate(block: Rate) -> str:
    low, high = block["ci"]
    return f"{100 * block['rate']:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"


def _each(block: Mapping[str, Any], ids: Sequence[str]) -> list[str]:
    """How often each instruction of the pair was followed, in the pair's order."""
    return [f"{100 * block['each'][i]['rate']:.0f}%" for i in ids]


def _weights(ws: list[float]) -> str:
    return " × ".join(f"{w:g}" for w in ws)


def methods_of(result: JointResult) -> list[str]:
    """The test methods in reading order: baselines, the joint spec, one recipe alone, one instruction prompted
    alone, the controls."""
    ids = result["instructions"]
    names = list(result["test"]["methods"])
    order = [*ORDER[:3], *(f"steered_{i}" for i in ids), *(f"prompted_{i}" for i in ids), *ORDER[3:]]
    return [n for n in order if n in names] + [n for n in names if n not in order]


def label(name: str) -> str:
    if name.startswith("steered_"):
        return f"`{name[8:]}` recipe alone (same weight)"
    if name.startswith("prompted_"):
        return f"prompted with `{name[9:]}` only"
    return LABELS.get(name, name)


def verdict(result: JointResult) -> JointVerdict:
    m = result["test"]["methods"]
    joint, original = m["joint"]["success"], m["original"]["success"]
    gain = joint["rate"] - original["rate"]
    passed = clears_bar(joint["rate"], joint["ci"][0], original["rate"])  # the single-instruction bar
    controls: list[str] = [n for n in ("mean_difference", "random_latents") if n in m]
    best = max(controls, key=lambda n: m[n]["success"]["rate"]) if controls else None
    return {"gain": gain, "passed": passed, "best_control": best}


def joint_claim(docs: Docs) -> str:
    parts = []
    for pid, doc in docs.items():
        r: JointResult = doc["result"]
        m, v = r["test"]["methods"], verdict(r)
        best = v["best_control"]
        control = f"; best control {best.replace('_', ' ')} {_rate(m[best]['success'])}" if best else ""
        each = ", ".join(f"{i} {100 * m['joint']['each'][i]['rate']:.0f}%" for i in r["instructions"])
        parts.append(
            f"`{pid}` original {_rate(m['original']['success'])} → steered {_rate(m['joint']['success'])} at weights "
            f"{_weights(r['weights'])} (each checker: {each}; repeated text {100 * m['joint']['repetition']:.0f}%; "
            f"prompted with both {_rate(m['prompted']['success'])}{control}; McNemar p vs original "
            f"{p_value(m['original']['paired_joint']['p'])})"
        )
    passed = [pid for pid, d in docs.items() if verdict(d["result"])["passed"]]
    plain = (
        " Not reproduced on this model: steering cannot combine what each recipe alone does not do faithfully."
        if not passed
        else ""
    )
    return (
        f"- **{CLAIM}** — steering with the union of two recipes' latents, a "
        "weight per instruction chosen on validation, joint success on test contents (both checkers pass, no loop, "
        f"faithful): {'; '.join(parts)}. The bar (≥ {100 * GAIN:.0f} points over original, interval above it) is met "
        f"for {len(passed)} of {len(docs)} pairs ({', '.join(passed) or 'none'}).{plain}"
    )


def joint_glance(docs: Docs) -> list[Glance]:
    """The claim at a glance: how many pairs clear the bar, and the best pair's joint success with its interval
    beside the original and the prompt with both instructions."""
    results: dict[str, JointResult] = {pid: d["result"] for pid, d in docs.items()}
    passed = [pid for pid, r in results.items() if verdict(r)["passed"]]
    top = max(results, key=lambda pid: results[pid]["test"]["methods"]["joint"]["success"]["rate"])
    m = results[top]["test"]["methods"]
    return [
        Glance(
            f"{CLAIM} (both recipes' latents together)",
            "SAIF: named as future work (no result)",
            f"the bar (≥ {100 * GAIN:.0f} points) met for {len(passed)} of {len(results)} pairs; best `{top}` "
            f"{_rate(m['joint']['success'])} vs original {100 * m['original']['success']['rate']:.0f}% and prompted "
            f"with both {100 * m['prompted']['success']['rate']:.0f}% "
            f"({n_each(r['test']['n'] for r in results.values())})",
            tally(len(passed), len(results)),
        )
    ]


def joint_lines(docs: Docs) -> list[str]:
    md: list[str] = []
    for pid, doc in docs.items():
        r: JointResult = doc["result"]
        ids, val, test = r["instructions"], r["validation"], r["test"]
        md += [
            f"### `{pid}`: “{r['wording']}”",
            "",
            f"Validation grid ({val['n']} contents; faithful at chrF ≥ {val['fidelity_threshold']:g}, "
            f"{val['threshold_source']}); chosen weights **{_weights(val['chosen_weights'])}**:",
            "",
        ]
        rows = [(name.replace("_", " "), block) for name, block in val["baselines"].items()]
        rows += [(_weights(c["weights"]), c) for c in val["cells"]]
        md += table(
            ("weights", "success [95% CI]", "both followed", *(f"`{i}`" for i in ids)),
            (
                [name, _rate(block["success"]), f"{100 * block['joint_strict']['rate']:.0f}%", *_each(block, ids)]
                for name, block in rows
            ),
        )
        if not any(c["success"]["k"] for c in val["cells"]):
            md += [
                "",
                "No cell of the grid succeeded on validation, so the weights above come from the tie-breaks alone: "
                "read them as the grid's strongest push, not as a working recipe.",
            ]
        md += [
            "",
            f"Test (n = {test['n']}; study key `{doc['key_digest']}`, commit `{doc['provenance']['git_commit'][:12]}`, "
            f"{doc['seconds']:.0f} s):",
            "",
        ]
        columns = (
            "method", "success [95% CI]", "both followed", *(f"`{i}`" for i in ids), "repeated", "chrF to prompted",
            "McNemar p vs steered by both",
        )  # fmt: skip
        methods = []
        for name in methods_of(r):
            b = test["methods"][name]
            p = p_value(b["paired_joint"]["p"]) if "paired_joint" in b else "–"
            chrf = f"{b['chrf_prompted']:.1f}" if b["chrf_prompted"] is not None else "–"
            methods.append(
                [
                    label(name),
                    _rate(b["success"]),
                    f"{100 * b['joint_strict']['rate']:.0f}%",
                    *_each(b, ids),
                    f"{100 * b['repetition']:.0f}%",
                    chrf,
                    p,
                ]
            )
        md += table(columns, methods)
        md += ["", "First test contents (✓ success, ✗ not); every text is in the shipped result:", ""]
        for i in range(2):
            for name in ("prompted", "joint"):
                o = test["methods"][name]["outputs"][i]
                plain = label(name).replace("**", "")
                md.append(f"- *{plain}*, `{o['id']}` {'✓' if o['success'] else '✗'}: {quote(o['text'])}")
        md.append("")
    return md


def joint_section(docs: Docs, figs: Path) -> list[str]:
    """The "two instructions at once" section."""
    return section(
        "Two instructions at once",
        (
            "`python -m saif_ui joint-study`: for each pair (a language and a form, or two forms: two languages would "
            "contradict each other), both recipes steer together, each at a weight (0, 1 or 2 × its own α) chosen on "
            "validation contents by joint success (ties: the most jointly compliant answers that are not loops, then "
            "the most checker passes, loops included, then the smallest total weight); judged on the "
            "test contents by both checkers (success: both pass, no loop, chrF to the answer prompted with both "
            "instructions at least the threshold chosen on validation) beside the prompted baselines, each recipe "
            "alone and two controls with each part's weight: random latents at each part's norm, and each "
            "instruction's mean-difference vector at the α its recipe search chose."
        ),
    ) + joint_lines(docs)
