"""The FINDINGS.md sections of the studies that re-measure the seeds' other claims: placement, layers, several
latents (drop-one / add-one) and FAST vs BT. Each gives a claim line and a section, from its shipped documents."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from saif_ui.saif.judge.stats import PairedDict
from saif_ui.saif.studies.findings_sections import Rate, figure, p_value, pct, section, table
from saif_ui.saif.studies.study import Docs


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


class DerivedResult(TypedDict):
    """What every derived study's result begins with (`derived.Item.header`): the instruction, its test contents and
    the recipe's summary."""

    instruction: str
    n: int
    contents: list[str]
    recipe: dict[str, Any]


class PlacementResult(DerivedResult):
    """A shipped result of the placement study (`placement_study.run_instruction`)."""

    prompted: PlacementPrompted
    discovery: dict[str, Any]
    """layer, sae, n_contents, post_top, pre_top, k, jaccard_at_<k> and jaccard_at_20."""
    steering: PlacementSteering


class Candidate(TypedDict):
    """One validation point of the search (`recipe_search.Candidate` as a dict)."""

    layer: int
    k: int
    alpha: float
    successes: int
    n: int
    fluent: int
    strict: int


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


class AblationPoint(TypedDict):
    group: str
    label: str
    latents: list[int]
    norm: float
    success: Rate
    fluent_strict: Rate
    paired_vs_full: dict[str, PairedDict]
    outputs: NotRequired[list[dict[str, Any]]]


class AblationResult(DerivedResult):
    """A shipped result of the ablation study (`ablation_study.run_instruction`)."""

    original: dict[str, Rate]
    points: list[AblationPoint]


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


class OutputEffect(TypedDict):
    latents: list[int]
    alpha: float
    norm: float
    validation: list[Candidate]
    jaccard_with_recipe: float
    success: Rate
    fluent_strict: Rate
    paired: dict[str, dict[str, PairedDict]]
    outputs: list[dict[str, Any]]


class SelectionResult(DerivedResult):
    """A shipped result of the selection study (`selection_study.run_instruction`); `output_effect` also carries
    the output-effect ranking's summary."""

    output_effect: OutputEffect
    compared: dict[str, dict[str, Rate]]


def _results(docs: Docs) -> dict[str, Any]:
    """Each document's result by item (typed by the caller's annotation)."""
    return {i: d["result"] for i, d in docs.items()}


def _p_pair(paired: Mapping[str, PairedDict]) -> str:
    """McNemar's p of success / of fluent strict."""
    return f"{p_value(paired['success']['p'])} / {p_value(paired['fluent_strict']['p'])}"


def _rates_and_p(block: Mapping[str, Any], paired: Mapping[str, PairedDict]) -> list[str]:
    """The cells of a point measured on test: success and fluent strict with their intervals, then their p."""
    return [_rate_ci(block["success"]), _rate_ci(block["fluent_strict"]), _p_pair(paired)]


def _rate_ci(block: Rate) -> str:
    low, high = block["ci"]
    return f"{100 * block['rate']:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"


def _cmp(c: PostPre) -> str:
    return f"post {pct(c['post']['rate'])} vs pre {pct(c['pre']['rate'])} (p {p_value(c['paired']['p'])})"


# ---------------------------------------------------------------- placement


def placement_claim(docs: Docs) -> str:
    results: dict[str, PlacementResult] = _results(docs)
    prompted = "; ".join(f"`{i}` {_cmp(r['prompted']['fluent_strict'])}" for i, r in results.items())
    steered = "; ".join(f"`{i}` {_cmp(r['steering']['success'])}" for i, r in results.items())
    better = [
        i
        for i, r in results.items()
        if (c := r["prompted"]["fluent_strict"])["paired"]["p"] < 0.05 and c["post"]["rate"] > c["pre"]["rate"]
    ]
    worse = [
        i
        for i, r in results.items()
        if (c := r["prompted"]["fluent_strict"])["paired"]["p"] < 0.05 and c["post"]["rate"] < c["pre"]["rate"]
    ]
    return (
        "- **SAIF: the instruction after the content (post) works better than before it (pre)** — prompted, fluent "
        f"strict on test contents: {prompted}. Post significantly better (McNemar p < 0.05) for "
        f"{len(better)} of {len(results)} ({', '.join(better) or 'none'}), pre for {len(worse)} "
        f"({', '.join(worse) or 'none'}). Steering with latents discovered under each placement (success): "
        f"{steered}."
    )


def placement_lines(docs: Docs) -> list[str]:
    results: dict[str, PlacementResult] = _results(docs)
    columns = (
        "instruction", "n", "prompted fluent strict: post / pre (p)", "prompted strict: post / pre (p)",
        "top-k overlap (Jaccard at k / at 20)", "steered success: post / pre (p)",
        "steered fluent strict: post / pre (p)",
    )  # fmt: skip
    rows = []
    for iid, r in results.items():
        d = r["discovery"]
        prompted = [
            f"{_rate_ci(c['post'])} / {_rate_ci(c['pre'])} ({p_value(c['paired']['p'])})"
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


# ---------------------------------------------------------------- layers


def layers_claim(docs: Docs) -> str:
    results: dict[str, LayersResult] = _results(docs)
    parts, deepest_best = [], []
    for iid, r in results.items():
        layers = r["layers"]
        cells = ", ".join(f"L{b['layer']} {pct(b['fluent_strict']['rate'])}" for b in layers)
        deep = next(b for b in layers if b["layer"] == r["deepest"])
        worse = [
            b["layer"]
            for b in layers
            if b["layer"] != r["deepest"]
            and b["paired_vs_deepest"]["fluent_strict"]["p"] < 0.05
            and b["fluent_strict"]["rate"] < deep["fluent_strict"]["rate"]
        ]
        if len(worse) == len(layers) - 1:
            deepest_best.append(iid)
        succ = ", ".join(f"L{b['layer']} {pct(b['success']['rate'])}" for b in layers)
        parts.append(f"`{iid}` fluent strict {cells} (success {succ})")
    two = [(i, t) for i, r in results.items() if (t := r.get("two_layers"))]
    won = [
        f"`{i}` (L{t['layers'][0]} + L{t['layers'][1]}: test success {_rate_ci(t['success'])}, fluent strict "
        f"{pct(t['fluent_strict']['rate'])})"
        for i, t in two
        if t["beats_single_layer_on_validation"] and "success" in t
    ]
    moved = [i for i, r in results.items() if search_layer(r) != r["recipe"]["layer"]]
    return (
        "- **SAIF: latents of the final layers steer best** — top-5 at each shipped layer, α chosen per layer on "
        f"validation, on test contents: {'; '.join(parts)}. The deepest layer is significantly better than every "
        f"other (McNemar p < 0.05, fluent strict) for {len(deepest_best)} of {len(results)} instructions "
        f"({', '.join(deepest_best) or 'none'}). With every layer here in the recipe search's layer stage (these "
        f"are its validation candidates), the layer it picks would change for {len(moved)} of {len(results)} "
        f"({', '.join(f'`{i}`' for i in moved) or 'none'}). Steering the two best layers at once beat the best "
        f"single layer on validation for {len(won)} of {len(two)} ({'; '.join(won) or 'none'}); the recipes stay "
        "single-layer (the search has no two-layer stage), and neither rate is near the bar."
    )


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
    results: dict[str, LayersResult] = _results(docs)
    columns = (
        "instruction", "layer", "α (validation)", "success [95% CI]", "fluent strict [95% CI]",
        "p vs deepest (success / fluent strict)",
    )  # fmt: skip
    rows = [
        [f"`{iid}`", f"L{b['layer']}", f"{b['alpha']:g}", *_rates_and_p(b, b["paired_vs_deepest"])]
        for iid, r in results.items()
        for b in r["layers"]
    ]
    return table(columns, rows)


def two_layer_lines(docs: Docs) -> list[str]:
    results: dict[str, LayersResult] = _results(docs)
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
        test = (
            f"{_rate_ci(t['success'])} / {_rate_ci(t['fluent_strict'])}" if kept else "– (not run: lost on validation)"
        )
        rows.append([f"`{iid}`", f"L{t['layers'][0]} + L{t['layers'][1]}", tried, "yes" if kept else "no", test])
    return table(columns, rows)


def layers_plot(docs: Docs, path: Path) -> None:
    results: dict[str, LayersResult] = _results(docs)
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


# ---------------------------------------------------------------- drop-one / add-one


def ablation_claim(docs: Docs) -> str:
    results: dict[str, AblationResult] = _results(docs)
    parts = []
    for iid, r in results.items():
        pts = r["points"]
        full = pts[0]
        first = next(p for p in pts if p["label"] == "first 1")
        hurts = [
            p["label"].removeprefix("without ")
            for p in pts
            if p["group"] == "drop"
            and p["paired_vs_full"]["fluent_strict"]["p"] < 0.05
            and p["fluent_strict"]["rate"] < full["fluent_strict"]["rate"]
        ]
        parts.append(
            f"`{iid}` all {len(full['latents'])} {pct(full['fluent_strict']['rate'])} vs the first alone "
            f"{pct(first['fluent_strict']['rate'])} (p {p_value(first['paired_vs_full']['fluent_strict']['p'])}); "
            f"dropping {', '.join(hurts) or 'no single latent'} lowers it significantly"
        )
    return (
        "- **SAIF: several latents steer better than one** (drop-one / add-one on test contents, fluent strict; the "
        f"vector's norm grows with each latent added): {'; '.join(parts)}."
    )


def ablation_lines(docs: Docs) -> list[str]:
    results: dict[str, AblationResult] = _results(docs)
    columns = (
        "instruction", "variant", "latents", "vector norm", "success [95% CI]", "fluent strict [95% CI]",
        "p vs all (success / fluent strict)",
    )  # fmt: skip
    rows = [
        [f"`{iid}`", p["label"], ", ".join(map(str, p["latents"])), f"{p['norm']:.1f}",
         *_rates_and_p(p, p["paired_vs_full"])]
        for iid, r in results.items()
        for p in r["points"]
    ]  # fmt: skip
    return table(columns, rows)


def ablation_plot(docs: Docs, path: Path) -> None:
    results: dict[str, AblationResult] = _results(docs)
    with figure(path, 1, 2, figsize=(9.0, 3.6), sharey=True) as (_, axes):
        for iid, r in results.items():
            pts = r["points"]
            full = pts[0]
            adds = [p for p in pts if p["group"] == "add"] + [full]
            axes[0].plot(
                range(1, len(adds) + 1), [100 * p["fluent_strict"]["rate"] for p in adds], marker="o", label=iid
            )
            drops = [p for p in pts if p["group"] == "drop"]
            axes[1].plot(
                range(1, len(drops) + 1),
                [100 * (p["fluent_strict"]["rate"] - full["fluent_strict"]["rate"]) for p in drops],
                marker="o",
                label=iid,
            )
        axes[0].set_xlabel("first i latents (discovery's order)")
        axes[0].set_ylabel("fluent strict on test, %")
        axes[1].set_xlabel("latent dropped (rank in discovery)")
        axes[1].set_ylabel("change vs all latents, points")
        axes[1].axhline(0, color="grey", lw=0.8)
        axes[0].legend(fontsize=7)


# ---------------------------------------------------------------- FAST vs BT

FVB_COLUMNS = ("log2_mse", "log2_mse_st", "explained_variance", "l0", "dead_fraction", "delta_ce", "loss_recovered")


def fast_vs_bt_claim(docs: Docs) -> str:
    results: dict[str, FastVsBtResult] = _results(docs)
    st, overall = [], []
    for item, r in results.items():
        f = r["saes"]["fast"]["reports"]["fast_format"]
        b = r["saes"]["bt"]["reports"]["fast_format"]
        t = r["paired"]["fast"]["mse_st"]
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
        "- **FAST: training on chats as the model reads them reconstructs special tokens much better than block "
        f"training** — on FAST-formatted held-out chats: {'; '.join(st)}. On BT-formatted held-out text (BT's own "
        "ground; where the mean and the per-block majority disagree, a few blocks carry large errors): "
        f"{'; '.join(overall)}."
    )


def fast_vs_bt_lines(docs: Docs) -> list[str]:
    results: dict[str, FastVsBtResult] = _results(docs)
    lines = [
        "| seed | SAE | evaluated on | " + " | ".join(FVB_COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(FVB_COLUMNS),
    ]
    for item, r in results.items():
        for method, block in r["saes"].items():
            for fmt, rep in block["reports"].items():
                cells = [
                    "–" if rep.get(c) is None else (f"{rep[c]:.3f}" if isinstance(rep[c], float) else str(rep[c]))
                    for c in FVB_COLUMNS
                ]
                lines.append(
                    f"| {item} | {method.upper()} | {fmt.replace('_format', '')} | " + " | ".join(cells) + " |"
                )
    lines += [
        "",
        "Paired tests (Wilcoxon signed-rank, per held-out sequence, FAST SAE vs BT SAE of the same seed):",
        "",
    ]
    lines += [
        "| seed | held-out format | metric | sequences | FAST lower | median FAST/BT | p |",
        "|---|---|---|---|---|---|---|",
    ]
    for item, r in results.items():
        for fmt, tests in r["paired"].items():
            for metric, t in tests.items():
                lines.append(
                    f"| {item} | {fmt} | {metric} | {t['n_sequences']} | {t['a_lower']} | {t['median_ratio']:.3f} "
                    f"| {p_value(t['p'])} |"
                )
    return lines


# ---------------------------------------------------------------- selection by output effect


def selection_claim(docs: Docs) -> str:
    results: dict[str, SelectionResult] = _results(docs)
    parts = []
    for iid, r in results.items():
        o, c = r["output_effect"], r["compared"]
        parts.append(
            f"`{iid}` output effect {pct(o['success']['rate'])} success / {pct(o['fluent_strict']['rate'])} fluent "
            f"strict vs SAIF's {pct(c['steered']['success']['rate'])} / {pct(c['steered']['fluent_strict']['rate'])} "
            f"(p {p_value(o['paired']['steered']['fluent_strict']['p'])}) and mean difference "
            f"{pct(c['mean_difference']['success']['rate'])} / {pct(c['mean_difference']['fluent_strict']['rate'])}"
        )
    return (
        "- **Choosing latents by their output effect (GradSAE-style) instead of SAIF's input contrast** — same "
        f"layer, k, positions and decay, α chosen on validation, on test contents: {'; '.join(parts)}."
    )


def selection_lines(docs: Docs) -> list[str]:
    results: dict[str, SelectionResult] = _results(docs)
    columns = (
        "instruction", "output-effect latents", "overlap with SAIF's (Jaccard)", "α (validation)",
        "success [95% CI]", "fluent strict [95% CI]", "p vs SAIF (success / fluent strict)", "p vs mean difference",
    )  # fmt: skip
    rows = []
    for iid, r in results.items():
        o = r["output_effect"]
        pm = o["paired"]["mean_difference"]
        rows.append(
            [f"`{iid}`", ", ".join(map(str, o["latents"])), f"{o['jaccard_with_recipe']:.2f}", f"{o['alpha']:g}",
             *_rates_and_p(o, o["paired"]["steered"]), _p_pair(pm)]
        )  # fmt: skip
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


def layers_section(docs: Docs, figs: Path) -> list[str]:
    """The layers section, with its figure."""
    layers_plot(docs, figs / "layers.png")
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
        ["![fluent strict by layer](figures/layers.png)"],
    )


def ablation_section(docs: Docs, figs: Path) -> list[str]:
    """The drop-one / add-one section, with its figure."""
    ablation_plot(docs, figs / "ablation.png")
    return section(
        "Several latents vs one: drop-one and add-one",
        (
            "`python -m saif_ui ablation-study`: each recipe with several latents at its α, positions and decay, "
            "without each latent in turn and with its first i latents in discovery's order, on the test contents "
            "(the full recipe's answers read back from the steering study). Not norm-matched: the vector grows with "
            "each latent (its norm is shown); the norm-matched top-1 is in each instruction's table above."
        ),
        ablation_lines(docs),
        ["![drop-one and add-one](figures/ablation.png)"],
    )


def selection_section(docs: Docs, figs: Path) -> list[str]:
    """The selection-by-output-effect section."""
    return section(
        "Selection by output effect",
        (
            "`python -m saif_ui selection-study`: at the recipe's SAE, the k latents whose steering vector most "
            "raises, to first order, the likelihood of the model's instructed answer to discovery contents given the "
            "prompt without the instruction (gradient of the answer's NLL at the layer × each latent's write vector × "
            "its mean activation under the instruction; after GradSAE, Shu et al. 2025, and Arad et al. 2025); α "
            "chosen on the validation stage; judged on the test contents beside SAIF's recipe and the mean-difference "
            "vector (their answers read back from the steering study)."
        ),
        selection_lines(docs),
    )


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
