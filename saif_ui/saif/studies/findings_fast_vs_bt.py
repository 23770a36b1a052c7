"""The FINDINGS.md section of the FAST vs BT study: its claim line and tables, from its shipped documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

from saif_ui.saif.studies.findings_sections import SIGNIFICANT, p_value, section, table, tally, typed_results
from saif_ui.saif.studies.study import Docs, Glance


class Wilcoxon(TypedDict):
    n_sequences: int
    a_lower: int
    median_ratio: float
    p: float


class FastVsBtSae(TypedDict):
    reports: dict[str, dict[str, Any]]
    """fast_format and bt_format: `fast.report` reports as dicts."""
    manifest: dict[str, Any]


class FastVsBtResult(TypedDict):
    """A shipped result of the FAST vs BT study (`fast_vs_bt.run_seed`)."""

    seed: int
    layer: int
    saes: dict[str, FastVsBtSae]
    paired: dict[str, dict[str, Wilcoxon]]
    eval_harvests: dict[str, Any]


# ---------------------------------------------------------------- FAST vs BT

CLAIM = "FAST: training on chats as the model reads them reconstructs special tokens much better than block training"
FVB_COLUMNS = ("log2_mse", "log2_mse_st", "explained_variance", "l0", "dead_fraction", "delta_ce", "loss_recovered")


def _special(r: FastVsBtResult) -> tuple[dict[str, Any], dict[str, Any], Wilcoxon]:
    """On FAST-formatted held-out chats: the FAST SAE's report, the BT SAE's, and the paired test of MSE_st."""
    reports = r["saes"]
    return (
        reports["fast"]["reports"]["fast_format"],
        reports["bt"]["reports"]["fast_format"],
        r["paired"]["fast"]["mse_st"],
    )


def _lower(t: Wilcoxon) -> tuple[bool, bool]:
    """Whether FAST's error is significantly lower on most sequences, and whether BT's is."""
    significant = t["p"] < SIGNIFICANT
    return significant and 2 * t["a_lower"] > t["n_sequences"], significant and 2 * t["a_lower"] < t["n_sequences"]


def fast_vs_bt_claim(docs: Docs) -> str:
    results: dict[str, FastVsBtResult] = typed_results(docs)
    st, overall = [], []
    for item, r in results.items():
        f, b, t = _special(r)
        st.append(
            f"{item}: log2 MSE_st {f['log2_mse_st']:.2f} (FAST) vs {b['log2_mse_st']:.2f} (BT), FAST lower on "
            f"{t['a_lower']}/{t['n_sequences']} held-out chats (Wilcoxon p {p_value(t['p'])})"
        )
        fb = r["saes"]["fast"]["reports"]["bt_format"]
        bb = r["saes"]["bt"]["reports"]["bt_format"]
        tb, tbs = r["paired"]["bt"]["mse"], r["paired"]["bt"]["mse_st"]
        overall.append(
            f"{item}: log2 MSE {fb['log2_mse']:.2f} (FAST) vs {bb['log2_mse']:.2f} (BT), and per block FAST lower "
            f"on {tb['a_lower']}/{tb['n_sequences']} (median ratio {tb['median_ratio']:.2f}, p {p_value(tb['p'])}); "
            f"MSE_st FAST lower on {tbs['a_lower']}/{tbs['n_sequences']} (median ratio {tbs['median_ratio']:.2f}, "
            f"p {p_value(tbs['p'])})"
        )
    return (
        f"- **{CLAIM}** — on FAST-formatted held-out chats: {'; '.join(st)}. On BT-formatted held-out text (BT's own "
        "ground; where the mean and the per-block majority disagree, a few blocks carry large errors): "
        f"{'; '.join(overall)}."
    )


def fast_vs_bt_glance(docs: Docs) -> list[Glance]:
    """The claim at a glance: the seeds where FAST's special-token error is significantly lower, the first seed's
    figures, and how often BT's special-token error is lower on its own format (the other side of the claim)."""
    results: dict[str, FastVsBtResult] = typed_results(docs)
    lower = [_lower(_special(r)[2]) for r in results.values()]
    bt_own = sum(_lower(r["paired"]["bt"]["mse_st"])[1] for r in results.values())
    item = next(iter(results))
    f, b, t = _special(results[item])
    return [
        Glance(
            CLAIM,
            "FAST: log2 MSE_st 0.6468 vs 5.1985 for BT(P) (Qwen2.5-7B, L18)",
            f"FAST lower MSE_st (Wilcoxon p < 0.05) for {sum(w for w, _ in lower)} of {len(results)} seeds; {item}: "
            f"log2 MSE_st {f['log2_mse_st']:.2f} vs {b['log2_mse_st']:.2f}, lower on {t['a_lower']}/"
            f"{t['n_sequences']} held-out chats; on BT-formatted text BT's MSE_st is lower per block for {bt_own} of "
            f"{len(results)} (no interval)",
            tally(sum(w for w, _ in lower), len(results), sum(lose for _, lose in lower)),
        )
    ]


def fast_vs_bt_lines(docs: Docs) -> list[str]:
    results: dict[str, FastVsBtResult] = typed_results(docs)
    reports = [
        [item, method.upper(), fmt.replace("_format", ""), *map(_cell, (rep.get(c) for c in FVB_COLUMNS))]
        for item, r in results.items()
        for method, block in r["saes"].items()
        for fmt, rep in block["reports"].items()
    ]
    tests = [
        [item, fmt, metric, t["n_sequences"], t["a_lower"], f"{t['median_ratio']:.3f}", p_value(t["p"])]
        for item, r in results.items()
        for fmt, by_metric in r["paired"].items()
        for metric, t in by_metric.items()
    ]
    return [
        *table(("seed", "SAE", "evaluated on", *FVB_COLUMNS), reports),
        "",
        "Paired tests (Wilcoxon signed-rank, per held-out sequence, FAST SAE vs BT SAE of the same seed):",
        "",
        *table(("seed", "held-out format", "metric", "sequences", "FAST lower", "median FAST/BT", "p"), tests),
    ]


def _cell(value: Any) -> str:
    """A report's number as the table shows it: floats to 3 decimals, a missing one as a dash."""
    return "–" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def fast_vs_bt_section(docs: Docs, figs: Path) -> list[str]:
    """The FAST vs BT section."""
    return section(
        "FAST vs block training (BT)",
        (
            "`python -m saif_ui fast-vs-bt-study`: per seed, a FAST and a BT SAE at layer 15 with the same budget "
            "and recipe (TopK k = 64, 4,096 latents, 300,000 harvested activations, 600,000 training samples, lr "
            "3e-3), measured on held-out chats in both formats (ΔCE on the FAST-formatted ones). Reports and "
            "manifests are in [studies/fast_vs_bt/](studies/fast_vs_bt/)."
        ),
        fast_vs_bt_lines(docs),
    )
