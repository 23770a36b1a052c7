"""The FINDINGS.md section of the placement study (instruction after or before the content): its claim line and
table, from its shipped documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypedDict

from saif_ui.saif.judge.stats import PairedDict
from saif_ui.saif.studies.findings_sections import (
    DerivedResult,
    Rate,
    above,
    n_each,
    p_value,
    pct,
    rate_ci,
    section,
    table,
    tally,
    typed_results,
)
from saif_ui.saif.studies.study import Docs, Glance


class PostPre(TypedDict):
    post: Rate
    pre: Rate
    paired: PairedDict


class PlacementPrompted(TypedDict):
    fluent_strict: PostPre
    strict: PostPre
    headline: str
    pre_outputs: list[dict[str, Any]]


class PlacementSteering(TypedDict):
    success: PostPre
    fluent_strict: PostPre
    headline: str
    pre_latents: list[int]
    post_latents: list[int]
    pre_outputs: list[dict[str, Any]]


class PlacementResult(DerivedResult):
    """A shipped result of the placement study (`placement_study.run_instruction`)."""

    prompted: PlacementPrompted
    discovery: dict[str, Any]
    """layer, sae, n_contents, post_top, pre_top, k, jaccard_at_<k> and jaccard_at_20."""
    steering: PlacementSteering


CLAIM = "SAIF: the instruction after the content (post) works better than before it (pre)"


def _cmp(c: PostPre) -> str:
    return f"post {pct(c['post']['rate'])} vs pre {pct(c['pre']['rate'])} (p {p_value(c['paired']['p'])})"


def placement_claim(docs: Docs) -> str:
    results: dict[str, PlacementResult] = typed_results(docs)
    prompted = "; ".join(f"`{i}` {_cmp(r['prompted']['fluent_strict'])}" for i, r in results.items())
    steered = "; ".join(f"`{i}` {_cmp(r['steering']['success'])}" for i, r in results.items())
    better = _better(results, "prompted", "post")
    worse = _better(results, "prompted", "pre")
    return (
        f"- **{CLAIM}** — prompted, fluent strict on test contents: {prompted}. Post significantly better "
        "(McNemar p < 0.05) for "
        f"{len(better)} of {len(results)} ({', '.join(better) or 'none'}), pre for {len(worse)} "
        f"({', '.join(worse) or 'none'}). Steering with latents discovered under each placement (success): "
        f"{steered}."
    )


Where = Literal["prompted", "steered"]
Side = Literal["post", "pre"]


def _pair(r: PlacementResult, where: Where) -> PostPre:
    """The comparison the claim reads: prompted fluent strict, or steered success."""
    return r["prompted"]["fluent_strict"] if where == "prompted" else r["steering"]["success"]


def _better(results: dict[str, PlacementResult], where: Where, side: Side) -> list[str]:
    """The instructions where `side` is significantly above the other placement, `where` (prompted or steered)."""
    other: Side = "pre" if side == "post" else "post"
    return [
        i for i, r in results.items() if above((c := _pair(r, where))[side]["rate"], c[other]["rate"], c["paired"]["p"])
    ]


def placement_glance(docs: Docs) -> list[Glance]:
    """The claim at a glance: post above pre when prompted and when steered (each placement's own latents), and the
    largest prompted difference with its interval. Its verdict counts both."""
    results: dict[str, PlacementResult] = typed_results(docs)
    n = len(results)
    wheres: tuple[Where, ...] = ("prompted", "steered")
    post = {w: _better(results, w, "post") for w in wheres}
    pre = {w: _better(results, w, "pre") for w in wheres}
    iid = max(results, key=lambda i: (c := _pair(results[i], "prompted"))["post"]["rate"] - c["pre"]["rate"])
    c = _pair(results[iid], "prompted")
    return [
        Glance(
            CLAIM,
            "SAIF: post-instruction placement steers better than pre",
            f"prompted: post above pre (p < 0.05) for {len(post['prompted'])} of {n}, pre above for "
            f"{len(pre['prompted'])}; steered: post above for {len(post['steered'])}, pre for {len(pre['steered'])}; "
            f"largest `{iid}` prompted post {rate_ci(c['post'])} vs pre {pct(c['pre']['rate'])} "
            f"({n_each(r['n'] for r in results.values())})",
            tally(sum(map(len, post.values())), 2 * n, sum(map(len, pre.values()))),
        )
    ]


def placement_lines(docs: Docs) -> list[str]:
    results: dict[str, PlacementResult] = typed_results(docs)
    columns = (
        "instruction", "n", "prompted fluent strict: post / pre (p)", "prompted strict: post / pre (p)",
        "top-k overlap (Jaccard at k / at 20)", "steered success: post / pre (p)",
        "steered fluent strict: post / pre (p)",
    )  # fmt: skip
    rows = []
    for iid, r in results.items():
        d = r["discovery"]
        prompted = [
            f"{rate_ci(c['post'])} / {rate_ci(c['pre'])} ({p_value(c['paired']['p'])})"
            for c in (r["prompted"]["fluent_strict"], r["prompted"]["strict"])
        ]
        at_k = d["jaccard_at_" + str(d["k"])]
        overlap = f"{at_k:.2f} (k={d['k']}) / {d['jaccard_at_20']:.2f}"
        steered = [
            f"{pct(c['post']['rate'])} / {pct(c['pre']['rate'])} ({p_value(c['paired']['p'])})"
            for c in (r["steering"]["success"], r["steering"]["fluent_strict"])
        ]
        rows.append([f"`{iid}`", r["n"], *prompted, overlap, *steered])
    return table(columns, rows)


def placement_section(docs: Docs, figs: Path) -> list[str]:
    """The placement section."""
    return section(
        "Placement: instruction after (post) or before (pre) the content",
        (
            "`python -m saif_ui placement-study`, on the steering study's test contents (its post answers read back). "
            "Prompted: fluent strict is the headline here, since success is fidelity to the post-prompted answer. "
            "Discovery: the top latents found under each placement at the recipe's layer, and their overlap. "
            "Steered: the recipe with its latents replaced by the pre-discovered ones (same layer, k, α × mean "
            "activation, positions, decay; the α was chosen for the post latents, a bias towards post)."
        ),
        placement_lines(docs),
    )
