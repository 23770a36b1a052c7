"""`python -m saif_ui findings`: run the studies and write docs/FINDINGS.md with its figures and raw data.

Every number in the document comes from the study results written beside it (findings.json); the claims section
states each paper claim next to what this model showed, whichever way it went.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.saif.studies.studies import (
    Log,
    StudyCache,
    StudyConfig,
    best_layer,
    drop_one_study,
    layer_study,
    placement_study,
    special_study,
    topk_study,
)

DOCS = Path(__file__).resolve().parents[3] / "docs"


def run_studies(engine: Engine, cfg: StudyConfig, use_cache: bool = True, log: Log = print) -> dict[str, Any]:
    cache = StudyCache(engine, cfg, enabled=use_cache)
    start = time.perf_counter()
    layers = layer_study(engine, cfg, cache, log)
    top = best_layer(layers)
    alphas = {i: layers[i][str(top)]["best_alpha"] for i in cfg.instructions}
    data = {
        "config": {**cfg.__dict__, "checkers": dict(cfg.checkers)},
        "model": engine.config.model,
        "saes": {str(s.layer): s.name for s in engine.saes.values()},
        "layers": layers,
        "best_layer": top,
        "placement": placement_study(engine, cfg, top, cache, log),
        "topk": topk_study(engine, cfg, top, cache, log=log),
        "drop_one": drop_one_study(engine, cfg, top, alphas, cache, log),
        "special": special_study(engine, cfg, cache, log),
    }
    data["seconds"] = round(time.perf_counter() - start, 1)
    return data


# ---------------------------------------------------------------- figures


def _plot_sweeps(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    instructions = list(data["layers"])
    fig, axes = plt.subplots(1, len(instructions), figsize=(5.2 * len(instructions), 3.8), squeeze=False)
    for ax, instruction in zip(axes[0], instructions, strict=True):
        per_layer = data["layers"][instruction]
        for layer, s in sorted(per_layer.items(), key=lambda kv: int(kv[0])):
            xs = [r["alpha"] for r in s["results"]]
            ax.plot(xs, [100 * r["fluent_strict"] for r in s["results"]], marker="o", label=f"steered, layer {layer}")
        any_layer = next(iter(per_layer.values()))
        ax.axhline(100 * any_layer["baselines"]["prompted"]["fluent_strict"], ls="--", c="k", label="prompted")
        ax.axhline(100 * any_layer["baselines"]["original"]["fluent_strict"], ls=":", c="grey", label="original")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("α (× the latents' mean activation under the instruction)")
        ax.set_ylabel(f"fluent compliance, % ({any_layer['checker']})")
        ax.set_title(instruction)
        ax.set_ylim(-3, 103)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_fluency(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    instructions = list(data["layers"])
    fig, axes = plt.subplots(1, len(instructions), figsize=(5.2 * len(instructions), 3.4), squeeze=False)
    for ax, instruction in zip(axes[0], instructions, strict=True):
        for layer, s in sorted(data["layers"][instruction].items(), key=lambda kv: int(kv[0])):
            xs = [r["alpha"] for r in s["results"]]
            ax.plot(xs, [r["fluency"]["repetition"] for r in s["results"]], marker="s", label=f"layer {layer}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("α")
        ax.set_ylabel("degeneration (repeated share)")
        ax.set_title(f"{instruction}: degeneration")
        ax.set_ylim(-0.03, 1.03)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- document


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _ppl(r: dict[str, Any]) -> str:
    p = r["fluency"]["perplexity"]
    return "–" if p is None else f"{p:.1f}"


def _sweep_table(s: dict[str, Any]) -> list[str]:
    lines = ["| run | strict | fluent strict | loose | median perplexity | repetition |", "|---|---|---|---|---|---|"]
    for name in ("original", "prompted"):
        b = s["baselines"][name]
        rep = b["fluency"]["repetition"]
        lines.append(
            f"| {name} (no steering) | {_pct(b['strict'])} | {_pct(b['fluent_strict'])} | {_pct(b['loose'])} "
            f"| {_ppl(b)} | {rep:.2f} |"
        )
    for r in s["results"]:
        rep = r["fluency"]["repetition"]
        lines.append(
            f"| steered α={r['alpha']:g} | {_pct(r['strict'])} | {_pct(r['fluent_strict'])} | {_pct(r['loose'])} "
            f"| {_ppl(r)} | {rep:.2f} |"
        )
    return lines


def _best(s: dict[str, Any]) -> dict[str, Any]:
    return max(s["results"], key=lambda r: (r["fluent_strict"], -r["alpha"]))


def _quote(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return (text[:limit] + "…") if len(text) > limit else text


def claims(data: dict[str, Any]) -> list[str]:
    """Each paper claim beside what our runs showed (computed from the data, not written by hand)."""
    lines = []
    top = str(data["best_layer"])
    for instruction, per_layer in data["layers"].items():
        s = per_layer[top]
        best = _best(s)
        base = s["baselines"]["original"]
        gain = best["fluent_strict"] - base["fluent_strict"]
        verdict = "confirmed" if gain >= 0.2 else ("weak (under 20 points)" if gain > 0 else "not reproduced")
        lines.append(
            f"- **SAIF: adding instruction-relevant latents makes the model follow an instruction it was not given** — "
            f"`{instruction}` ({s['checker']}) at layer {top}: fluent compliance {_pct(base['fluent_strict'])} "
            f"→ {_pct(best['fluent_strict'])} at α={best['alpha']:g} (+{100 * gain:.0f} points; strict "
            f"{_pct(base['strict'])} → {_pct(best['strict'])}, n={base['n']}): **{verdict}**; "
            f"prompting reaches {_pct(s['baselines']['prompted']['fluent_strict'])}."
        )
    ranks = {
        layer: sum(max(r["fluent_strict"] for r in data["layers"][i][layer]["results"]) for i in data["layers"])
        for layer in next(iter(data["layers"].values()))
    }
    order = sorted(ranks, key=lambda layer: -ranks[layer])
    late = max(ranks, key=int)
    lines.append(
        "- **SAIF: later layers steer better** — best-α fluent compliance summed over instructions by layer: "
        + ", ".join(f"L{layer} {100 * ranks[layer]:.0f}" for layer in sorted(ranks, key=int))
        + f": {'confirmed' if order[0] == late else 'not reproduced'} (best: layer {order[0]})."
    )
    pl = data["placement"]
    gaps = {i: _best(p["post"])["fluent_strict"] - _best(p["pre"])["fluent_strict"] for i, p in pl.items()}
    lines.append(
        "- **SAIF: placing the instruction after the content gives better steering latents** — best fluent "
        "compliance post minus pre: "
        + ", ".join(f"{i} {100 * g:+.0f} points" for i, g in gaps.items())
        + f" ({sum(g > 0 for g in gaps.values())} better, {sum(g == 0 for g in gaps.values())} tied, "
        f"{sum(g < 0 for g in gaps.values())} worse); top-{data['config']['k']} Jaccard pre/post: "
        + ", ".join(f"{i} {p['jaccard_top_k']:.2f}" for i, p in pl.items())
        + "."
    )
    tk = data["topk"]
    more = [i for i, per_k in tk.items() if _best(per_k["5"])["fluent_strict"] > _best(per_k["1"])["fluent_strict"]]
    lines.append(
        "- **SAIF: several latents together steer better than the single best one** — top-5 beat top-1 for "
        f"{len(more)}/{len(tk)} instructions ({', '.join(more) or 'none'})."
    )
    lines.append(
        "- **AxBench: prompting beats steering** — "
        + "; ".join(
            f"{i}: prompted {_pct(data['layers'][i][top]['baselines']['prompted']['fluent_strict'])} vs best steered "
            f"{_pct(_best(data['layers'][i][top])['fluent_strict'])}"
            for i in data["layers"]
        )
        + "."
    )
    changed = [
        layer
        for layer, g in data["special"].items()
        if "grids" in g and any(row["text"] != grid["rows"][0]["text"] for grid in g["grids"] for row in grid["rows"])
    ]
    lines.append(
        "- **FAST: special-token latents can steer the output** — the answer changed under the α grid at layers "
        f"{', '.join(changed) or 'none'} (outputs below)."
    )
    return lines


def write_findings(data: dict[str, Any], out_dir: Path = DOCS) -> Path:
    """Write FINDINGS.md, figures/ and findings.json into `out_dir`; returns the markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figs = out_dir / "figures"
    figs.mkdir(exist_ok=True)
    _plot_sweeps(data, figs / "steering_sweep.png")
    _plot_fluency(data, figs / "steering_fluency.png")
    (out_dir / "findings.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    cfg = data["config"]
    top = str(data["best_layer"])
    md = [
        "# Findings: steering SmolLM2-135M-Instruct with SAE latents",
        "",
        "Generated by `python -m saif_ui findings` from the study results in [findings.json](findings.json); do not "
        "edit by hand. Held-out contents only (discovery never sees them); defaults (top-k, positions, α grid) were "
        "chosen on discovery-split contents.",
        "",
        f"Setup: {cfg['n_contents']} held-out contents, greedy decoding, {cfg['max_new_tokens']} new tokens, "
        f"top-{cfg['k']} latents by `t` score at the last prompt token (placement post unless said), "
        f"steering at positions `{cfg['positions']}` with α × each latent's mean activation under the instruction. "
        f"Checkers: " + ", ".join(f"`{i}` → `{cfg['checkers'].get(i, i)}`" for i in cfg["instructions"]) + ". "
        "**Fluent strict** counts an answer only if it passes the strict check and repeats < 50% of its word "
        "trigrams or character 8-grams — at high α the model loops on one word, which a language detector still calls "
        "French. "
        f"This run: {data['seconds']:.0f} s (studies found in the cache are not recomputed).",
        "",
        *(
            f"`{i}` is judged with `{c}` (the answer is, or validly begins, a JSON object or array): told to return "
            "JSON, the model opens a JSON document and then nests or repeats until the length limit, so strict JSON "
            "parsing (`python -m saif_ui compliance`) gives 0% even when prompted and cannot show a change."
            for i, c in cfg["checkers"].items()
            if i in cfg["instructions"] and c == "json_start"
        ),
        "",
        "## Claims and what this model showed",
        "",
        *claims(data),
        "",
        "## Layer comparison",
        "",
        "![steering sweep](figures/steering_sweep.png)",
        "",
        "![degeneration](figures/steering_fluency.png)",
        "",
    ]
    for instruction, per_layer in data["layers"].items():
        for layer, s in sorted(per_layer.items(), key=lambda kv: int(kv[0])):
            md += [
                f"### `{instruction}` at layer {layer} (latents {', '.join(map(str, s['latents']))})",
                "",
                *_sweep_table(s),
                "",
                f"Steered example (α={s['example']['alpha']:g}, content `{s['example']['content']}`): "
                f"“{_quote(s['example']['text'])}”",
                "",
            ]
    md += ["## Placement: discovery under `pre` vs `post`", "", f"At layer {top}.", ""]
    md += [
        "| instruction | top-k Jaccard | top-20 Jaccard | best fluent (post) | best fluent (pre) |",
        "|---|---|---|---|---|",
    ]
    for i, p in data["placement"].items():
        post, pre = _best(p["post"]), _best(p["pre"])
        md.append(
            f"| {i} | {p['jaccard_top_k']:.2f} | {p['jaccard_top_20']:.2f} | {_pct(post['fluent_strict'])} "
            f"(α={post['alpha']:g}) | {_pct(pre['fluent_strict'])} (α={pre['alpha']:g}) |"
        )
    md += ["", "## Top-1 vs top-k latents", "", f"At layer {top}; best α per row.", ""]
    md += ["| instruction | k | latents | best fluent strict | α |", "|---|---|---|---|---|"]
    for i, per_k in data["topk"].items():
        for k, s in sorted(per_k.items(), key=lambda kv: int(kv[0])):
            b = _best(s)
            md.append(
                f"| {i} | {k} | {', '.join(map(str, s['latents']))} | {_pct(b['fluent_strict'])} | {b['alpha']:g} |"
            )
    md += ["", "## Drop-one ablation", "", f"Top-{cfg['k']} at layer {top}, each latent removed in turn.", ""]
    md += ["| instruction | α | all latents | latent removed → fluent strict |", "|---|---|---|---|"]
    for i, d in data["drop_one"].items():
        rows = ", ".join(f"−{r['latent']}: {_pct(r['without'])}" for r in d["rows"])
        md.append(f"| {i} | {d['alpha']:g} | {_pct(d['full'])} | {rows} |")
    md += ["", "## Special-token intervention (FAST)", ""]
    for layer, g in data["special"].items():
        if "error" in g:
            md += [f"Layer {layer}: {g['error']}", ""]
            continue
        for grid in g["grids"]:
            md += [
                f"Layer {layer}, latent {grid['latent']} (fires on `{grid['token']}`), content “{grid['content']}”:",
                "",
                "| α | answer |",
                "|---|---|",
                *[f"| {r['alpha']:g} | {_quote(r['text'], 160).replace('|', '∣')} |" for r in grid["rows"]],
                "",
            ]
    path = out_dir / "FINDINGS.md"
    path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return path
