"""What the panels say in Markdown: verdict lines under answers, an instruction's wordings and compliance, a
recipe's card, latent contexts. Pure text from the service layer's results (no gradio): `widgets` builds and wires
the components that show it."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from saif_ui.service import LOW_COMPLIANCE, Comparison, Instruction, Output, Partial, RecipeView, Summary


def mark(value: bool | None) -> str:
    """A verdict in words and a plain symbol (no emoji: they vanish in browsers without an emoji font)."""
    return "–" if value is None else ("**pass** ✓" if value else "**fail** ✗")


def verdict_md(output: Output | None, checker: str | None, stopped: bool = False) -> str:
    """One line under an answer: the checker's strict/loose verdicts and the fluency signals (`stopped`: the visitor
    stopped the generation, so an unfinished answer was cut there)."""
    if not output:
        return ""
    parts = []
    if checker:
        parts.append(f"**{checker}**: strict {mark(output.strict)} · loose {mark(output.loose)}")
    else:
        parts.append("no checker for this instruction")
    if output.perplexity is not None:
        parts.append(f"perplexity {output.perplexity:.1f}")
    parts.append(f"repeated (loops) {100 * output.repetition:.0f}%")
    if not output.finished:
        parts.append("stopped" if stopped else "cut at max tokens")
    return " · ".join(parts)


def answer_and_verdict(comparison: Comparison | None, mode: str, checker: str | None) -> list[str]:
    """The text of one mode's answer and its verdict line ("" and "" when the comparison lacks that mode)."""
    out = comparison.outputs.get(mode) if comparison else None
    return [out.text, verdict_md(out, checker, comparison.stopped)] if out and comparison else ["", ""]


def partial_answers(partial: Partial, modes: Iterable[str]) -> list[str]:
    """Each mode's answer so far and an empty verdict line (an answer is judged once whole), in the order of
    `answer_and_verdict`'s."""
    return [x for mode in modes for x in (partial.texts.get(mode, ""), "")]


def instruction_md(instr: Instruction) -> str:
    """What the instruction is: its wordings (the set discovery samples from) and its checker."""
    lines = [f"**{instr.id}** ({instr.category}) — {instr.description}", ""]
    lines.append(f"Checker: `{instr.checker}`" if instr.checker else "Checker: none (verdicts are not judged)")
    lines.append("")
    lines.append(f"Wordings ({len(instr.variants())}), sampled in turn by discovery:")
    lines += [f"- {w}" for w in (instr.canonical, *instr.rewordings)]
    lines += [f"- *{t.lang}*: {t.text}" for t in instr.translations]
    return "\n".join(lines)


def compliance_md(instr: Instruction, measured: Summary | None = None) -> str:
    """The instruction's prompted compliance (the catalogue's, or `measured` by a sweep's prompted baseline), with a
    warning when the model does not follow it even when told."""
    if measured is not None:
        rate = measured.strict
        low, high = measured.ci(rate)
        text = (
            f"Prompted compliance in your sweep: **{100 * rate:.0f}%** (95% CI {100 * low:.0f}–{100 * high:.0f}%) "
            f"of {measured.n} validation contents follow the instruction when told (strict)."
        )
    else:
        if instr.prompted_compliance is None:
            return "Prompted compliance: **not measured** (a sweep in the Steering tab measures the prompted baseline)."
        rate = instr.prompted_compliance
        text = f"Prompted compliance: **{100 * rate:.0f}%** of validation contents follow the instruction when told."
    if rate < LOW_COMPLIANCE:
        text += (
            "\n\n⚠ **The model does not follow this instruction even when told** — steering with its latents is "
            "unlikely to do better than the prompt (AxBench: prompting beats steering)."
        )
    return text


RECIPE_ROWS = (
    ("original", "original (not told, not steered)"),
    ("prompted", "prompted (told)"),
    ("steered", "steered with the recipe (not told)"),
    ("mean_difference", "mean-difference vector"),
    ("random_latents", "random latents, same norm"),
    ("random_direction", "random direction, same norm"),
    ("distil_sae", "distilled: SAE latents (trained on the prompt)"),
    ("distil_free", "distilled: free vector (trained on the prompt)"),
    ("distil_ce", "distilled: free vector, cross-entropy (objective control)"),
)


def recipe_md(view: RecipeView) -> str:
    """The instruction's validated recipe and its shipped test figures, each rate with its 95% interval."""
    r = view.recipe
    if r is None:
        return (
            f"**No validated recipe for `{view.instruction}`.** `python -m saif_ui choose-recipe --instruction ID "
            "--write` chooses one on validation contents; until then steer with latents you pick."
        )
    s = r.summary()
    saif = s.get("saif", s)
    decay = f", decay {saif['decay']:g}" if saif["decay"] else ""
    v = r.validation
    lines = [
        f"**Validated recipe for `{r.instruction}`**: {saif['sae']} (layer {saif['layer']}), latents "
        f"{', '.join(map(str, saif['latents']))}, α = {saif['alpha']:g}, positions `{saif['positions']}`{decay}. "
        f"Chosen on {v.get('n', '?')} validation contents (success {v.get('successes', '?')}/{v.get('n', '?')}); "
        f"an answer succeeds when it complies, is not a loop, and has chrF ≥ {r.fidelity_threshold:g} to the "
        "prompted answer.",
    ]
    if r.adopted is not None:
        figs = r.adopted.validation.get("methods", {})
        said = ", ".join(f"`{m}` {c['successes']}/{c['n']}" for m, c in figs.items())
        what = f"{len(s['latents'])} latents of {s['sae']}" if s["latents"] else "a free vector"
        lines = [
            f"**Validated recipe for `{r.instruction}`: steers with `{r.adopted.method}`**, a vector distilled from "
            f"the prompt ({what}, layer {s['layer']}, α = {s['alpha']:g}, positions `{s['positions']}`), chosen "
            f"over SAIF's top-k on the same validation contents ({said}).",
            "",
            "SAIF's top-k, shown beside it: " + lines[0].split(": ", 1)[1],
        ]
    if not view.attached:
        lines.append(f"\n⚠ Its SAE `{s['sae']}` is not attached: add it in the SAEs tab to apply the recipe.")
    elif view.test is None:
        lines.append("\nNo test figures shipped yet (`python -m saif_ui steering-study`).")
    else:
        t = view.test
        lines += ["", f"Test contents (n = {t.n}), success with its 95% interval:", ""]
        lines += ["| method | success | 95% CI | McNemar p vs steered |", "|---|---|---|---|"]
        for name, label in RECIPE_ROWS:
            if name == "steered" and r.adopted is not None:
                label = "SAIF's top-k (not told)"  # the studies' `steered` is SAIF's spec, not the adopted one
            if name in t.rates:
                rate, low, high = t.rates[name]
                p = "–" if name == "steered" else f"{t.paired_p.get(name, float('nan')):.3g}"
                lines.append(f"| {label} | {100 * rate:.0f}% | {100 * low:.0f}–{100 * high:.0f}% | {p} |")
        if not t.current:
            lines.append("\n⚠ These figures were made with another recipe, code or data: they need a rerun.")
    return "\n".join(lines)


def contexts_html(contexts: Sequence[Mapping[str, Any]], limit: int = 8) -> str:
    """Top activating contexts as token runs shaded by activation, the maximum token outlined. Colours are
    translucent, so the text keeps the theme's own colour in light and dark mode."""
    if not contexts:
        return "<p><em>No contexts: the latent never fired on the cards' held-out chats.</em></p>"
    rows = []
    for ctx in contexts[:limit]:
        peak = max(max(ctx["acts"]), 1e-6)
        spans = []
        for k, (tok, act) in enumerate(zip(ctx["tokens"], ctx["acts"], strict=True)):
            alpha = max(0.0, min(1.0, act / peak)) * 0.75
            style = f"background: rgba(242,153,74,{alpha:.2f}); border-radius: 3px;"
            if k == ctx["highlight"]:
                style += " outline: 2px solid #eb5757; font-weight: 600;"
            shown = html.escape(tok.replace("\n", "⏎"))
            spans.append(f'<span title="{act:.2f}" style="{style}">{shown}</span>')
        rows.append(
            f'<div class="saif-context"><code>{ctx["value"]:.2f}</code> '
            f'<span style="white-space: pre-wrap;">{"".join(spans)}</span></div>'
        )
    return "\n".join(rows)
