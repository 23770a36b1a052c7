"""The FINDINGS.md section of the layers study (where the latents steer best, and two layers at once): its claim
line, tables and figure, from its shipped documents."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from saif_ui.saif.judge.stats import PairedDict
from saif_ui.saif.studies.findings_sections import (
    Candidate,
    DerivedResult,
    Rate,
    above,
    figure,
    n_each,
    pct,
    plotted,
    rate_ci,
    rates_and_p,
    section,
    table,
    tally,
    typed_results,
)
from saif_ui.saif.studies.study import Docs, Glance


class LayerBlock(TypedDict):
    layer: int
    sae: str
    latents: list[int]
    alpha: float
    validation: list[Candidate]
    norm: float
    success: Rate
    fluent_strict: Rate
    outputs: list[dict[str, Any]]
    paired_vs_deepest: dict[str, PairedDict]


class TwoLayerTry(TypedDict):
    scale: float
    successes: int
    fluent: int
    strict: int
    n: int


class TwoLayers(TypedDict):
    layers: list[int]
    validation: list[TwoLayerTry]
    scale: float
    beats_single_layer_on_validation: bool
    success: NotRequired[Rate]
    fluent_strict: NotRequired[Rate]
    outputs: NotRequired[list[dict[str, Any]]]


class LayersResult(DerivedResult):
    """A shipped result of the layers study (`layers_study.run_instruction`)."""

    deepest: int
    original: dict[str, Rate]
    layers: list[LayerBlock]
    two_layers: TwoLayers | None


FIGURE = "layers.png"
CLAIM = "SAIF: latents of the final layers steer best"


def _vs_deepest(r: LayersResult) -> tuple[bool, bool]:
    """Whether the deepest layer is significantly above every other (fluent strict, McNemar), and whether some
    other layer is significantly above it."""
    layers = r["layers"]
    deep = next(b for b in layers if b["layer"] == r["deepest"])["fluent_strict"]["rate"]
    others = [(b["fluent_strict"]["rate"], b["paired_vs_deepest"]["fluent_strict"]["p"]) for b in layers
              if b["layer"] != r["deepest"]]  # fmt: skip
    return all(above(deep, rate, p) for rate, p in others), any(above(rate, deep, p) for rate, p in others)


def layers_claim(docs: Docs) -> str:
    results: dict[str, LayersResult] = typed_results(docs)
    parts, deepest_best = [], []
    for iid, r in results.items():
        layers = r["layers"]
        cells = ", ".join(f"L{b['layer']} {pct(b['fluent_strict']['rate'])}" for b in layers)
        if _vs_deepest(r)[0]:
            deepest_best.append(iid)
        succ = ", ".join(f"L{b['layer']} {pct(b['success']['rate'])}" for b in layers)
        parts.append(f"`{iid}` fluent strict {cells} (success {succ})")
    two = [(i, t) for i, r in results.items() if (t := r.get("two_layers"))]
    won = [
        f"`{i}` (L{t['layers'][0]} + L{t['layers'][1]}: test success {rate_ci(t['success'])}, fluent strict "
        f"{pct(t['fluent_strict']['rate'])})"
        for i, t in two
        if t["beats_single_layer_on_validation"] and "success" in t
    ]
    moved = [i for i, r in results.items() if search_layer(r) != r["recipe"]["layer"]]
    return (
        f"- **{CLAIM}** — top-5 at each shipped layer, α chosen per layer on "
        f"validation, on test contents: {'; '.join(parts)}. The deepest layer is significantly better than every "
        f"other (McNemar p < 0.05, fluent strict) for {len(deepest_best)} of {len(results)} instructions "
        f"({', '.join(deepest_best) or 'none'}). With every layer here in the recipe search's layer stage (these "
        f"are its validation candidates), the layer it picks would change for {len(moved)} of {len(results)} "
        f"({', '.join(f'`{i}`' for i in moved) or 'none'}). Steering the two best layers at once beat the best "
        f"single layer on validation for {len(won)} of {len(two)} ({'; '.join(won) or 'none'}); the recipes stay "
        "single-layer (the search has no two-layer stage), and neither rate is near the bar."
    )


def layers_glance(docs: Docs) -> list[Glance]:
    """The claim at a glance: how often the deepest layer wins or loses, where each instruction's highest fluent
    strict is (instructions at 0% on every layer left out), and the best point with its interval."""
    results: dict[str, LayersResult] = typed_results(docs)
    verdicts = [_vs_deepest(r) for r in results.values()]
    best = {i: max(r["layers"], key=lambda b: b["fluent_strict"]["rate"]) for i, r in results.items()}
    where = Counter(b["layer"] for b in best.values() if b["fluent_strict"]["rate"] > 0)
    zero = len(best) - sum(where.values())
    top = max(best, key=lambda i: best[i]["fluent_strict"]["rate"])
    deepest = ", ".join(f"L{x}" for x in sorted({r["deepest"] for r in results.values()}))
    hits, against = sum(w for w, _ in verdicts), sum(lose for _, lose in verdicts)
    highest = ", ".join(f"L{layer} for {k}" for layer, k in sorted(where.items(), key=lambda kv: (-kv[1], kv[0])))
    return [
        Glance(
            CLAIM,
            "SAIF: the final layer(s) matter most",
            f"the deepest ({deepest}) above every other layer (p < 0.05, fluent strict) for {hits} of {len(results)}, "
            f"a shallower one above it for {against}; highest at {highest or 'none'}"
            + (f" ({zero} at 0% on every layer)" if zero else "")
            + f"; top `{top}` L{best[top]['layer']} {rate_ci(best[top]['fluent_strict'])} "
            f"({n_each(r['n'] for r in results.values())})",
            tally(hits, len(results), against),
            FIGURE,
        )
    ]


def search_layer(result: LayersResult) -> int:
    """The layer the recipe search's layer stage would pick among this study's layers: its ranking (successes,
    then fluent strict, then strict, then the smaller α; a tie goes to the shallower layer, tried first) over every
    layer's validation candidates."""
    best = max(
        ((c["successes"] / (c["n"] or 1), c["fluent"] / (c["n"] or 1), c["strict"] / (c["n"] or 1), -c["alpha"],
          -b["layer"]) for b in result["layers"] for c in b["validation"]),
    )  # fmt: skip
    return -int(best[-1])


def layers_lines(docs: Docs) -> list[str]:
    results: dict[str, LayersResult] = typed_results(docs)
    columns = (
        "instruction", "layer", "α (validation)", "success [95% CI]", "fluent strict [95% CI]",
        "p vs deepest (success / fluent strict)",
    )  # fmt: skip
    rows = [
        [f"`{iid}`", f"L{b['layer']}", f"{b['alpha']:g}", *rates_and_p(b, b["paired_vs_deepest"])]
        for iid, r in results.items()
        for b in r["layers"]
    ]
    return table(columns, rows)


def two_layer_lines(docs: Docs) -> list[str]:
    results: dict[str, LayersResult] = typed_results(docs)
    columns = (
        "instruction", "layers at once", "validation stage: scale → success / fluent strict (n)", "kept",
        "test success / fluent strict",
    )  # fmt: skip
    rows = []
    for iid, r in results.items():
        t = r.get("two_layers")
        if not t:
            continue
        tried = ", ".join(f"{v['scale']:g} → {v['successes']} / {v['fluent']} ({v['n']})" for v in t["validation"])
        kept = t["beats_single_layer_on_validation"]
        test = f"{rate_ci(t['success'])} / {rate_ci(t['fluent_strict'])}" if kept else "– (not run: lost on validation)"
        rows.append([f"`{iid}`", f"L{t['layers'][0]} + L{t['layers'][1]}", tried, "yes" if kept else "no", test])
    return table(columns, rows)


def layers_plot(docs: Docs, path: Path) -> None:
    results: dict[str, LayersResult] = typed_results(docs)
    with figure(path, figsize=(6.4, 3.8)) as (_, ax):
        for iid, r in results.items():
            layers = r["layers"]
            x = [b["layer"] for b in layers]
            y = [100 * b["fluent_strict"]["rate"] for b in layers]
            low = [100 * (b["fluent_strict"]["rate"] - b["fluent_strict"]["ci"][0]) for b in layers]
            high = [100 * (b["fluent_strict"]["ci"][1] - b["fluent_strict"]["rate"]) for b in layers]
            ax.errorbar(x, y, yerr=[low, high], marker="o", capsize=3, label=iid)
        ax.set_xlabel("layer of the SAE (top-5 latents, α chosen on validation)")
        ax.set_ylabel("fluent strict on test, %")
        ax.set_ylim(0, 105)
        ax.legend(fontsize=7)


def layers_section(docs: Docs, figs: Path) -> list[str]:
    """The layers section, with its figure."""
    return section(
        "Layers: where the latents steer best",
        (
            "`python -m saif_ui layers-study`: discovery's top-5 at every shipped SAE's layer (all positions, no "
            "decay), α chosen per layer over the search's grid on the 24 validation stage contents, then steered on "
            "the test contents; McNemar's exact test of each layer against the deepest."
        ),
        layers_lines(docs),
        [
            "Two layers at once (the two best on validation, each at its own α times the scale; kept only if it "
            "beats the best single layer on the validation stage):"
        ],
        two_layer_lines(docs),
        plotted(layers_plot, docs, figs, FIGURE, "fluent strict by layer"),
    )
