"""Shared pieces of the tabs: turning library errors into `gr.Error`, verdict badges, compliance notes, contexts."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import html
import inspect
import logging
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

import gradio as gr

from saif_ui.service import (
    LOW_COMPLIANCE,
    USER_ERRORS,
    Backend,
    Cancelled,
    Comparison,
    Decoding,
    Instruction,
    Output,
    Partial,
    PromptChoice,
    RecipeView,
    SteerControls,
    Summary,
    on_gpu,
)

log = logging.getLogger(__name__)
MODEL_EVENT: dict[str, Any] = {"concurrency_id": "model", "concurrency_limit": 2}
"""Event kwargs of a model-bound handler (generation, discovery, sweeps): at most two such events run at once across
all sessions; the engine's lock serialises the model calls themselves, so a quick steer slips between a sweep's
batches instead of waiting for the whole sweep."""
PROGRESS = gr.Progress()
TRACK_TQDM = gr.Progress(track_tqdm=True)
"""Progress defaults for handlers: gradio recognises the parameter by its default and feeds it the event's
tracker (the instance itself holds no per-call state, so one module-level instance serves every call)."""
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Show the library's message for bad input (its own error classes, `backend.USER_ERRORS`) as a `gr.Error`; a Stop
    shows as such. Anything else is a bug: gradio reports it as an error of the app, and the server keeps serving. A
    generator function (a streaming handler) stays one, its errors translated however far it got."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with _shown_to_the_user():
                yield from fn(*args, **kwargs)

        return cast(F, stream)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _shown_to_the_user():
            return fn(*args, **kwargs)

    return cast(F, wrapper)


@contextlib.contextmanager
def _shown_to_the_user() -> Iterator[None]:
    try:
        yield
    except gr.Error:
        raise
    except Cancelled as err:
        raise gr.Error(f"Stopped: {err}", title="Stopped") from err
    except USER_ERRORS as err:
        message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        raise gr.Error(message) from err


def parse_decoding(**values: Any) -> Decoding:
    """The Decoding controls' values as the library's `Decoding`, which checks them: a slider gives a float for an
    int field, an emptied number None (read as 0)."""
    kinds = typing.get_type_hints(Decoding)
    return Decoding(**{name: kinds[name](value or 0) for name, value in values.items()})


CONTROLS: dict[type, tuple[tuple[tuple[str, Any], ...], Callable[..., Any]]] = {
    PromptChoice: (
        (
            ("instruction", str),
            ("custom_text", str),
            ("checker", str),
            ("content", str),
            ("placement", str),
            ("system_prompt", bool),
        ),
        PromptChoice,
    ),
    SteerControls: (
        (
            ("latents", list[str]),
            ("strengths", list[float] | None),
            ("alpha", float),
            ("positions", str),
            ("scale", str),
            ("decay", float),
            ("decay_power", float),
            ("method", str),
        ),
        SteerControls.parse,
    ),
    Decoding: (
        tuple((name, float if kind is int else kind) for name, kind in typing.get_type_hints(Decoding).items()),
        parse_decoding,
    ),
}
"""Typed controls a handler may take, the components' names they are read from (in the order of
`InstructionsTab.prompt_inputs`, `SteeringTab.spec_inputs` and `SteeringTab.decoding_inputs`), and how they are built
from those values. `Decoding`'s controls are its fields, so a new decoding knob is a field and its component."""


def handler(fn: F) -> F:
    """An event handler whose parameters may be typed controls (`PromptChoice`, `SteerControls`): gradio, the API page
    and gradio_client see each control by its own name, and the handler gets one value parsed once. Errors are shown
    as by `user_errors`; a generator function (a streaming handler) stays one.

    Example:
        >>> @handler
        ... def render(choice: PromptChoice, extra: int) -> str: ...
        >>> list(inspect.signature(render).parameters)[:2]  # doctest: +SKIP
        ['instruction', 'custom_text']
    """
    hints = typing.get_type_hints(fn)
    signature = inspect.signature(fn)
    params: list[inspect.Parameter] = []
    plan: list[tuple[str, type | None, list[str]]] = []
    for p in signature.parameters.values():
        kind = hints.get(p.name)
        if kind in CONTROLS:
            fields = CONTROLS[kind][0]
            params += [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=a) for n, a in fields]
            plan.append((p.name, kind, [n for n, _ in fields]))
        else:
            params.append(p.replace(annotation=hints.get(p.name, p.annotation)))
            plan.append((p.name, None, [p.name]))
    exposed = signature.replace(parameters=params, return_annotation=hints.get("return", signature.return_annotation))

    def parsed(*args: Any, **kwargs: Any) -> dict[str, Any]:
        bound = exposed.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        return {
            name: values[name] if kind is None else CONTROLS[kind][1](**{n: values[n] for n in names})
            for name, kind, names in plan
        }

    def call(*args: Any, **kwargs: Any) -> Any:
        return fn(**parsed(*args, **kwargs))

    def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
        yield from fn(**parsed(*args, **kwargs))

    # gradio streams an event's outputs when its function is a generator function (`inspect.isgeneratorfunction`)
    wrapper: Callable[..., Any] = stream if inspect.isgeneratorfunction(fn) else call
    functools.update_wrapper(wrapper, fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
    wrapper.__signature__ = exposed  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": exposed.return_annotation}
    return user_errors(cast(F, wrapper))


def gpu(action: str) -> Callable[[F], F]:
    """A handler that runs the model asks for a GPU on a ZeroGPU Space (`service.on_gpu(action)`: the action's
    duration, or its refusal shown as the visitor's error); anywhere else it is returned unchanged. Put it above
    `@handler` / `@user_errors`, so that they run inside the GPU call and its errors come back as the visitor's
    messages (an error of another class crosses ZeroGPU's process boundary as its class name only).

    Example:
        >>> @gpu("steer")
        ... @handler
        ... def steer(controls: SteerControls, request: gr.Request) -> Iterator[list[Any]]: ...
    """
    asks = on_gpu(action)

    def decorate(fn: F) -> F:
        wrapped = asks(fn)
        return fn if wrapped is fn else user_errors(wrapped)

    return decorate


def session_of(request: gr.Request | None) -> str:
    """The visitor's session id (gradio's session hash; one gradio_client is one session)."""
    return str(getattr(request, "session_hash", None) or "anonymous")


def sampling_controls(prefix: str = "") -> dict[str, Any]:
    """Every `Decoding` knob but the length (each panel places its own max-tokens slider), by field name, in an
    accordion: a `@handler` parameter typed `Decoding` takes `[max_tokens, *controls.values()]` as one object."""
    with gr.Accordion("Decoding", open=False), gr.Row():
        controls = {
            "do_sample": gr.Checkbox(False, label="Sample (else greedy)", elem_id=f"{prefix}do-sample"),
            "temperature": gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature"),
            "top_p": gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p"),
            "seed": gr.Number(0, label="Seed", precision=0),
            "repetition_penalty": gr.Slider(
                1.0, 2.0, value=1.0, step=0.05, label="Repetition penalty (1 = off; the answer only)"
            ),
            "no_repeat_ngram_size": gr.Slider(0, 8, value=0, step=1, label="No repeated n-gram of size (0 = off)"),
        }
    names = [f.name for f in dataclasses.fields(Decoding)]
    if names[0] != "max_new_tokens" or list(controls) != names[1:]:  # a new knob needs its control here
        raise RuntimeError(f"the decoding controls {list(controls)} do not follow Decoding's fields {names[1:]}")
    return controls


Answers = dict[str, tuple[gr.Textbox, gr.Markdown]]
"""A panel's answer boxes by mode, each with the verdict under it."""


def answer_columns(
    labels: Mapping[str, str], box_id: str, verdict_id: str, lines: int = 6, interactive: bool | None = None
) -> Answers:
    """One column per mode in a row: an answer box labelled `labels[mode]` over its verdict. The element ids are
    `box_id` and `verdict_id` with the mode in place of `{}` (the browser tests and the README find them by id).
    `interactive` None leaves it to Gradio (an output only is read-only)."""
    answers: Answers = {}
    with gr.Row():
        for mode, label in labels.items():
            with gr.Column():
                box = gr.Textbox(label=label, lines=lines, interactive=interactive, elem_id=box_id.format(mode))
                answers[mode] = (box, gr.Markdown(elem_id=verdict_id.format(mode)))
    return answers


def private(name: str) -> dict[str, Any]:
    """Event kwargs of an internal UI handler: an explicit api_name, kept off the documented API."""
    return {"api_name": name, "api_visibility": "private"}


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


def wire_stop(backend: Backend, button: gr.Button, panel: str, events: Sequence[Any]) -> None:
    """A streaming panel's Stop: gradio stops waiting for `events` (`cancels`), and the flag of the visitor's answers
    in `panel` ends their generation at the next token (cancelling alone leaves the worker generating)."""

    def stop(request: gr.Request) -> None:
        backend.streams.stop(session_of(request), panel)

    button.click(stop, None, None, cancels=list(events), **private(f"stop_{panel}"))


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
