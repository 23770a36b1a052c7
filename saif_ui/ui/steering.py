"""Steering tab (SAIF Stage 2): a strength per chosen latent and a global α, original / steered / prompted answers
side by side with verdicts, an α sweep on held-out contents, and the special-token intervention grid (FAST)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from saif_ui.saif.steer import SCALES
from saif_ui.ui import figures
from saif_ui.ui.backend import Backend
from saif_ui.ui.instructions import InstructionsTab
from saif_ui.ui.state import MAX_STEER_LATENTS, Session, parse_latent_ids
from saif_ui.ui.tables import SWEEP_HEADERS
from saif_ui.ui.widgets import MODEL_EVENT, private, user_errors, verdict_md

DEFAULT_K = 5
DEFAULT_ALPHA = 1.0
"""With the `mean_act` scale α = 1 re-creates the latents' typical activation under the instruction; on the embedded
model, the top 5 French latents at layer 24 turn held-out English passages into French at α = 1 (all positions)."""
SWEEP_ALPHAS = "0, 0.5, 1, 2, 4"
GRID_ALPHAS = "0, 15, 25, 50, 100, 150, 200"
MODES = ("original", "steered", "prompted", "prompted_steered")
MODE_LABELS = {
    "original": "Original (content only)",
    "steered": "Steered (content only + latents)",
    "prompted": "Prompted (content + instruction)",
    "prompted_steered": "Prompted + steered",
}


@dataclass
class SteeringTab:
    picker: gr.Dropdown
    strengths: list[gr.Slider]
    alpha: gr.Number
    alpha_log: gr.Slider
    positions: gr.Radio
    scale: gr.Radio
    decay: gr.Number
    decay_power: gr.Number
    prompted_steered: gr.Checkbox
    max_new_tokens: gr.Slider
    do_sample: gr.Checkbox
    temperature: gr.Slider
    top_p: gr.Slider
    seed: gr.Number
    steer_btn: gr.Button
    answers: dict[str, tuple[gr.Textbox, gr.Markdown]]
    spec_json: gr.Code
    sweep_alphas: gr.Textbox
    sweep_n: gr.Slider
    sweep_btn: gr.Button
    sweep_stop: gr.Button
    sweep_plot: gr.Plot
    sweep_table: gr.Dataframe
    grid_latent: gr.Dropdown
    grid_alphas: gr.Textbox
    grid_btn: gr.Button
    grid_table: gr.Dataframe

    @property
    def spec_inputs(self) -> list[Any]:
        """What the steering spec is made of (after the SAE): latents, α, strengths and how they are applied."""
        return [self.picker, self.alpha, *self.strengths, self.positions, self.scale, self.decay, self.decay_power]

    @property
    def decoding_inputs(self) -> list[Any]:
        return [self.max_new_tokens, self.do_sample, self.temperature, self.top_p, self.seed]


def build_steering_tab(backend: Backend, sae: str | None) -> SteeringTab:
    """The tab's layout; `wire_steering` adds the events once the other tabs exist."""
    gr.Markdown(
        "Add the chosen latents' decoder directions to the residual stream: α × Σ strengthᵢ × (mean activation of "
        "latent i under the instruction) × its direction. The **prompted** answer is the baseline to beat."
    )
    with gr.Row():
        with gr.Column(scale=2):
            picker = gr.Dropdown(
                [],
                value=[],
                multiselect=True,
                allow_custom_value=True,
                max_choices=MAX_STEER_LATENTS,
                label="Latents to steer with (from discovery, or type an id)",
                elem_id="steer-latents",
            )
            strengths = [
                gr.Slider(
                    -3, 3, value=1.0, step=0.05, label=f"strength {k + 1}", visible=False, elem_id=f"strength-{k}"
                )
                for k in range(MAX_STEER_LATENTS)
            ]
        with gr.Column(scale=1):
            alpha = gr.Number(DEFAULT_ALPHA, label="α (global)", elem_id="alpha")
            alpha_log = gr.Slider(
                -1, 3, value=math.log10(DEFAULT_ALPHA), step=0.05, label="α on a log scale: 10^x", elem_id="alpha-log"
            )
            positions = gr.Radio(["all", "generated", "prompt"], value="all", label="Positions steered")
            scale = gr.Radio(list(SCALES), value="mean_act", label="Scale of each latent")
            with gr.Row():
                decay = gr.Number(0.0, label="Decay per token", minimum=0)
                decay_power = gr.Number(1.0, label="Decay power", minimum=0)
    with gr.Accordion("Decoding", open=False), gr.Row():
        max_new_tokens = gr.Slider(8, 256, value=48, step=8, label="Max new tokens")
        do_sample = gr.Checkbox(False, label="Sample (else greedy)")
        temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
        top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p")
        seed = gr.Number(0, label="Seed", precision=0)
    with gr.Row():
        prompted_steered = gr.Checkbox(False, label="Also prompted + steered")
        steer_btn = gr.Button("Steer", variant="primary", elem_id="steer")
    answers = {}
    with gr.Row():
        for mode in MODES:
            with gr.Column(visible=mode != "prompted_steered") as col:
                box = gr.Textbox(label=MODE_LABELS[mode], lines=6, elem_id=f"out-{mode}")
                answers[mode] = (box, gr.Markdown(elem_id=f"verdict-{mode}"))
            if mode == "prompted_steered":
                prompted_steered.change(
                    lambda on: gr.update(visible=on), prompted_steered, col, **private("toggle_prompted_steered")
                )
    with gr.Accordion("Steering spec (JSON)", open=False):
        spec_json = gr.Code(language="json", label="spec", elem_id="spec-json")
    gr.Markdown("### Sweep α on held-out contents")
    with gr.Row():
        sweep_alphas = gr.Textbox(SWEEP_ALPHAS, label="α values")
        sweep_n = gr.Slider(2, 40, value=8, step=1, label="Held-out contents")
        sweep_btn = gr.Button("Sweep", variant="secondary", elem_id="sweep")
        sweep_stop = gr.Button("Stop", variant="stop", size="sm")
    sweep_plot = gr.Plot(figures.empty_figure("Run a sweep to plot accuracy and fluency against α."))
    sweep_tbl = gr.Dataframe(headers=SWEEP_HEADERS, interactive=False, elem_id="sweep-table")
    gr.Markdown("### Special-token intervention grid (FAST): one special-token latent at growing α")
    with gr.Row():
        specials = backend.shelf.special_choices(sae) if sae else []
        grid_latent = gr.Dropdown(
            specials,
            value=specials[0][1] if specials else None,
            label="Special-token latent (from the SAE's report; or type an id)",
            allow_custom_value=True,
        )
        grid_alphas = gr.Textbox(GRID_ALPHAS, label="α values")
        grid_btn = gr.Button("Run the grid", variant="secondary")
    grid_tbl = gr.Dataframe(headers=["α", "answer"], interactive=False, wrap=True, elem_id="grid-table")
    return SteeringTab(
        picker,
        strengths,
        alpha,
        alpha_log,
        positions,
        scale,
        decay,
        decay_power,
        prompted_steered,
        max_new_tokens,
        do_sample,
        temperature,
        top_p,
        seed,
        steer_btn,
        answers,
        spec_json,
        sweep_alphas,
        sweep_n,
        sweep_btn,
        sweep_stop,
        sweep_plot,
        sweep_tbl,
        grid_latent,
        grid_alphas,
        grid_btn,
        grid_tbl,
    )


def log_alpha(alpha: float) -> float:
    """Position of α on the log slider (10^x, x in [-1, 3]), to the slider's 0.01."""
    return round(max(-1.0, min(3.0, math.log10(alpha))), 2)


def parse_alphas(text: str, limit: int = 24) -> list[float]:
    """α values from text like "0, 1, 2.5 4"; at most `limit`, each finite."""
    items = [t for t in (text or "").replace(",", " ").split() if t]
    if not items:
        raise ValueError("give at least one α value, e.g. 0, 1, 2, 4")
    try:
        values = [float(t) for t in items]
    except ValueError as err:
        raise ValueError(f"α values must be numbers: {err}") from err
    if not all(math.isfinite(v) for v in values):
        raise ValueError("α values must be finite")
    if len(values) > limit:
        raise ValueError(f"at most {limit} α values per sweep")
    return sorted(dict.fromkeys(values))


def slider_updates(latents: Sequence[int], labels: dict[int, str], strengths: dict[int, float]) -> list[Any]:
    """One update per strength slider: visible and labelled for each chosen latent, hidden beyond."""
    out = []
    for k in range(MAX_STEER_LATENTS):
        if k < len(latents):
            i = latents[k]
            out.append(gr.update(visible=True, label=f"#{i} {labels.get(i, '')}".strip(), value=strengths.get(i, 1.0)))
        else:
            out.append(gr.update(visible=False, value=1.0))
    return out


def lens_labels(state: Session) -> dict[int, str]:
    return {int(v): label.split(" ", 1)[1] if " " in label else "" for label, v in state.latent_choices()}


def wire_steering(
    backend: Backend, tab: SteeringTab, ins: InstructionsTab, sae: gr.Dropdown, state: gr.State, discovery: Any
) -> None:
    """Events of the Steering tab; `discovery` is the discovery event, after which the top latents are preselected."""
    from saif_ui.ui.sweep import wire_sweep

    def after_discovery(state: Session) -> list[Any]:
        top = [str(i) for i in state.ranked_ids()[:DEFAULT_K]]
        return [
            gr.update(choices=state.latent_choices(), value=top),
            *slider_updates([int(i) for i in top], lens_labels(state), {}),
        ]

    discovery.success(after_discovery, [state], [tab.picker, *tab.strengths], **private("steer_after_discovery"))

    @user_errors
    def on_pick(latents: list[str], state: Session) -> list[Any]:
        ids = parse_latent_ids(latents)
        if len(ids) > MAX_STEER_LATENTS:
            raise gr.Error(f"At most {MAX_STEER_LATENTS} latents at once.")
        return slider_updates(ids, lens_labels(state), {})

    tab.picker.input(on_pick, [tab.picker, state], tab.strengths, **private("pick_latents"))

    def alpha_from_log(x: float) -> float:
        return float(f"{10 ** float(x):.3g}")

    def log_from_alpha(a: float | None) -> Any:
        return gr.update(value=log_alpha(a)) if a and a > 0 else gr.update()

    # `.input` fires on user edits only, so the two controls never trigger each other in a loop.
    tab.alpha_log.input(alpha_from_log, tab.alpha_log, tab.alpha, **private("alpha_from_log"))
    tab.alpha.input(log_from_alpha, tab.alpha, tab.alpha_log, **private("log_from_alpha"))

    @user_errors
    def steer(
        latents: list[str],
        alpha: float,
        strength_1: float,
        strength_2: float,
        strength_3: float,
        strength_4: float,
        strength_5: float,
        strength_6: float,
        strength_7: float,
        strength_8: float,
        positions: str,
        scale: str,
        decay: float,
        decay_power: float,
        instruction: str,
        custom_text: str,
        checker: str,
        content: str,
        placement: str,
        system_prompt: bool,
        sae: str,
        prompted_steered: bool,
        max_new_tokens: float,
        do_sample: bool,
        temperature: float,
        top_p: float,
        seed: float,
        state: Session,
    ) -> list[Any]:
        strengths = [strength_1, strength_2, strength_3, strength_4, strength_5, strength_6, strength_7, strength_8]
        instr = backend.instruction(instruction, custom_text, checker)
        spec = backend.spec(
            state.discovery, sae, **spec_kwargs(latents, alpha, strengths, positions, scale, decay, decay_power)
        )
        silent = [e.latent for e in spec.latents if spec.scale == "mean_act" and not e.mean_act]
        if silent:
            gr.Warning(
                f"Latents {silent} never fire under the instruction (mean activation 0): at the mean_act scale "
                "they add nothing. Use the unit scale to push along their directions."
            )
        decoding = {
            "max_new_tokens": int(max_new_tokens),
            "do_sample": bool(do_sample),
            "temperature": float(temperature),
            "top_p": float(top_p),
            "seed": int(seed or 0),
        }
        data, cached = backend.steer(instr, content, spec, placement, system_prompt, prompted_steered, decoding)
        state.comparison = {**data, "cached": cached}
        out: list[Any] = []
        for mode in MODES:
            o = data.get(mode)
            out += [o["text"] if o else "", verdict_md(o, instr.checker) if o else ""]
        return [*out, spec.to_json(), state]

    outputs = [c for mode in MODES for c in tab.answers[mode]]
    tab.steer_btn.click(
        steer,
        [*tab.spec_inputs, *ins.prompt_inputs, sae, tab.prompted_steered, *tab.decoding_inputs, state],
        [*outputs, tab.spec_json, state],
        api_name="steer",
        **MODEL_EVENT,
    )
    wire_sweep(backend, tab, ins, sae, state)


def spec_kwargs(
    latents: Any,
    alpha: float | None,
    strengths: Sequence[float | None],
    positions: str,
    scale: str,
    decay: float | None,
    decay_power: float | None,
) -> dict[str, Any]:
    """`Backend.spec` keywords from the Steering tab's controls (strength k belongs to the k-th chosen latent)."""
    ids = parse_latent_ids(latents)
    if len(ids) > MAX_STEER_LATENTS:
        raise ValueError(f"at most {MAX_STEER_LATENTS} latents at once")
    if alpha is None or not math.isfinite(float(alpha)):
        raise ValueError("α must be a finite number")
    return {
        "latents": ids,
        "strengths": {i: float(1.0 if s is None else s) for i, s in zip(ids, strengths, strict=False)},
        "alpha": float(alpha),
        "positions": positions,
        "scale": scale,
        "decay": float(decay or 0.0),
        "decay_power": float(1.0 if decay_power is None else decay_power),
    }
