"""Steering tab (SAIF Stage 2), its layout: the chosen latents with a strength each (sliders for the first ones, a
table for the rest), a global α, original / steered / prompted answers side by side, an α sweep on validation contents
and the special-token intervention grid (FAST). The events are wired by `steer.py` and `sweep.py`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from saif_ui.service import METHODS, SCALES, Backend, ControlError, Session, parse_latent_ids
from saif_ui.ui import figures
from saif_ui.ui.tables import SWEEP_HEADERS
from saif_ui.ui.texts import recipe_md as recipe_markdown
from saif_ui.ui.widgets import private, sampling_controls, user_errors

STRENGTH_SLIDERS = 8
"""Strength sliders shown in the Steering tab, one per chosen latent; any further latents get a row in the strengths
table (steering takes any number of latents)."""
DEFAULT_K = 5
DEFAULT_ALPHA = 1.0
"""With the `mean_act` scale α = 1 re-creates the latents' typical activation under the instruction (the validated
recipe, when the instruction has one, sets its own α)."""
SWEEP_ALPHAS = "0, 0.5, 1, 2, 4"
GRID_ALPHAS = "0, 15, 25, 50, 100, 150, 200"
MORE_HEADERS = ["latent", "strength"]
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
    more_strengths: gr.Dataframe
    """Strengths of the latents beyond the sliders, one row each."""
    strength_list: gr.JSON
    """Every chosen latent's strength in picker order: what steer, sweep, export and links read (and the API's
    `strengths`). Filled from the sliders and the table when a button is pressed."""
    shown: gr.State
    """The latent ids the sliders and the table show, in order (to keep their strengths when the choice changes)."""
    alpha: gr.Number
    alpha_log: gr.Slider
    positions: gr.Radio
    scale: gr.Radio
    decay: gr.Number
    decay_power: gr.Number
    method: gr.Radio
    prompted_steered: gr.Checkbox
    max_new_tokens: gr.Slider
    sampling: dict[str, Any]
    """The other decoding knobs by `Decoding` field (`widgets.sampling_controls`)."""
    steer_btn: gr.Button
    steer_stop: gr.Button
    """Stops the answers of Steer and of the recipe as they are written (they share the boxes)."""
    recipe_md: gr.Markdown
    recipe_btn: gr.Button
    answers: dict[str, tuple[gr.Textbox, gr.Markdown]]
    spec_json: gr.Code
    sweep_alphas: gr.Textbox
    sweep_n: gr.Slider
    sweep_btn: gr.Button
    sweep_stop: gr.Button
    sweep_plot: gr.Plot
    sweep_table: gr.Dataframe
    ablate_n: gr.Slider
    ablate_btn: gr.Button
    ablate_plot: gr.Plot
    grid_latent: gr.Dropdown
    grid_alphas: gr.Textbox
    grid_btn: gr.Button
    grid_table: gr.Dataframe

    @property
    def spec_inputs(self) -> list[Any]:
        """What the steering spec is made of (after the SAE): latents, strengths, α and how they are applied."""
        return [
            self.picker,
            self.strength_list,
            self.alpha,
            self.positions,
            self.scale,
            self.decay,
            self.decay_power,
            self.method,
        ]

    @property
    def strength_sources(self) -> list[Any]:
        """The components the strengths are read from: the picker, the sliders and the table."""
        return [self.picker, *self.strengths, self.more_strengths]

    @property
    def strength_outputs(self) -> list[Any]:
        """What showing a set of strengths updates (`strength_updates`): the list, the shown ids, the sliders and the
        table."""
        return [self.strength_list, self.shown, *self.strengths, self.more_strengths]

    @property
    def decoding_inputs(self) -> list[Any]:
        """The decoding controls, in the order of `Decoding`'s fields (a handler receives them as one `Decoding`)."""
        return [self.max_new_tokens, *self.sampling.values()]


def build_steering_tab(backend: Backend, sae: str | None, state: gr.State, instruction: str) -> SteeringTab:
    """The tab's layout; `wire_steering` adds the events once the other tabs exist."""
    gr.Markdown(
        "Add the chosen latents' decoder directions to the residual stream: α × Σ strengthᵢ × (mean activation of "
        "latent i under the instruction) × its direction. The **prompted** answer is the baseline to beat."
    )
    with gr.Group():
        recipe_md = gr.Markdown(recipe_markdown(backend.steering.recipe_view(instruction)), elem_id="recipe")
        recipe_btn = gr.Button("Steer with the validated recipe", variant="secondary", elem_id="steer-recipe")
    with gr.Row():
        with gr.Column(scale=2):
            picker = gr.Dropdown(
                [],
                value=[],
                multiselect=True,
                allow_custom_value=True,
                label="Latents to steer with (from discovery, or type an id)",
                elem_id="steer-latents",
            )
            strengths = [
                gr.Slider(
                    -3, 3, value=1.0, step=0.05, label=f"strength {k + 1}", visible=False, elem_id=f"strength-{k}"
                )
                for k in range(STRENGTH_SLIDERS)
            ]
            more_strengths = gr.Dataframe(
                pd.DataFrame(columns=MORE_HEADERS),
                headers=MORE_HEADERS,
                label=f"Strengths of the latents beyond the first {STRENGTH_SLIDERS}",
                interactive=True,
                visible=False,
                elem_id="more-strengths",
            )
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
            method = gr.Radio(
                list(METHODS),
                value="add",
                label="Intervention",
                info="add: the latents' vector (SAIF) · orthogonal: their component × α·strength · cap: their "
                "component capped at α·strength × base · clamp: the SAE latents set to α·strength × base, error kept",
                elem_id="method",
            )
    max_new_tokens = gr.Slider(8, 256, value=48, step=8, label="Max new tokens", elem_id="max-new-tokens")
    sampling = sampling_controls()
    with gr.Row():
        prompted_steered = gr.Checkbox(False, label="Also prompted + steered")
        steer_btn = gr.Button("Steer", variant="primary", elem_id="steer")
        steer_stop = gr.Button("Stop", variant="stop", size="sm", elem_id="steer-stop")
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
        strength_list = gr.JSON([], label="Strengths used, one per latent", elem_id="strength-list")
        shown = gr.State([])
        spec_json = gr.Code(language="json", label="spec", elem_id="spec-json")
    gr.Markdown("### Sweep α on validation contents (exploring; the recipe above was chosen the same way)")
    with gr.Row():
        sweep_alphas = gr.Textbox(SWEEP_ALPHAS, label="α values")
        sweep_n = gr.Slider(2, 40, value=8, step=1, label="Validation contents")
        sweep_btn = gr.Button("Sweep", variant="secondary", elem_id="sweep")
        sweep_stop = gr.Button("Stop", variant="stop", size="sm")
    sweep_plot = gr.Plot(figures.empty_figure("Run a sweep to plot accuracy and fluency against α."))
    sweep_tbl = gr.Dataframe(headers=SWEEP_HEADERS, interactive=False, elem_id="sweep-table")
    gr.Markdown("### Which latents matter: drop-one and add-one at the current α (validation contents)")
    with gr.Row():
        ablate_n = gr.Slider(2, 24, value=8, step=1, label="Validation contents")
        ablate_btn = gr.Button("Ablate the selection", variant="secondary", elem_id="ablate")
    ablate_plot = gr.Plot(figures.empty_figure("Ablate a selection of 2 or more latents to see which ones matter."))
    gr.Markdown("### Special-token intervention grid (FAST): one special-token latent at growing α")
    with gr.Row():
        specials = backend.sweeps.special_choices(sae)
        grid_latent = gr.Dropdown(
            specials,
            value=specials[0][1] if specials else None,
            label="Special-token latent (from the SAE's report; or type an id)",
            allow_custom_value=True,
        )
        grid_alphas = gr.Textbox(GRID_ALPHAS, label="α values")
        grid_btn = gr.Button("Run the grid", variant="secondary")
    grid_tbl = gr.Dataframe(headers=["α", "answer"], interactive=False, wrap=True, elem_id="grid-table")
    tab = SteeringTab(
        picker,
        strengths,
        more_strengths,
        strength_list,
        shown,
        alpha,
        alpha_log,
        positions,
        scale,
        decay,
        decay_power,
        method,
        prompted_steered,
        max_new_tokens,
        sampling,
        steer_btn,
        steer_stop,
        recipe_md,
        recipe_btn,
        answers,
        spec_json,
        sweep_alphas,
        sweep_n,
        sweep_btn,
        sweep_stop,
        sweep_plot,
        sweep_tbl,
        ablate_n,
        ablate_btn,
        ablate_plot,
        grid_latent,
        grid_alphas,
        grid_btn,
        grid_tbl,
    )
    _wire_own(tab, state)
    return tab


def log_alpha(alpha: float) -> float:
    """Position of α on the log slider (10^x, x in [-1, 3]), to the slider's 0.01."""
    return round(max(-1.0, min(3.0, math.log10(alpha))), 2)


def _rows(table: Any) -> list[list[Any]]:
    if table is None:
        return []
    if isinstance(table, pd.DataFrame):
        return table.values.tolist()
    if isinstance(table, dict):
        return list(table.get("data") or [])
    return [list(r) for r in table]


def collect_strengths(latents: Any, *values: Any) -> list[float]:
    """Every chosen latent's strength in picker order: the first ones from the sliders, the rest from the table
    (`values` = the slider values, then the table); a latent the table does not list gets 1."""
    ids = parse_latent_ids(latents)
    *sliders, table = values
    out = [1.0 if v is None else float(v) for v in sliders[: min(len(ids), STRENGTH_SLIDERS)]]
    rows = {}
    for row in _rows(table):
        try:
            rows[int(float(row[0]))] = float(row[1])
        except (TypeError, ValueError, IndexError):
            raise ControlError(f"each row of the strengths table is a latent id and a number, not {row!r}") from None
    out += [rows.get(i, 1.0) for i in ids[STRENGTH_SLIDERS:]]
    return out


def strength_updates(latents: Sequence[int], strengths: dict[int, float], labels: dict[int, str]) -> list[Any]:
    """Updates of `strength_outputs` showing `strengths` (latent -> strength; missing ones are 1) of `latents`: the
    list, one slider per latent up to `STRENGTH_SLIDERS` (visible and labelled), the table for the rest."""
    values = [float(strengths.get(i, 1.0)) for i in latents]
    sliders = []
    for k in range(STRENGTH_SLIDERS):
        if k < len(latents):
            i = latents[k]
            label = f"#{i} {labels.get(i, '')}".strip()
            sliders.append(gr.update(visible=True, label=label, value=values[k]))
        else:
            sliders.append(gr.update(visible=False, value=1.0))
    more = [[i, v] for i, v in zip(latents[STRENGTH_SLIDERS:], values[STRENGTH_SLIDERS:], strict=True)]
    table = gr.update(value=pd.DataFrame(more, columns=MORE_HEADERS), visible=bool(more))
    return [values, list(latents), *sliders, table]


def _wire_own(tab: SteeringTab, state: gr.State) -> None:
    """The tab's own events: picking latents shows their strengths; the two α controls follow each other."""

    @user_errors
    def on_pick(latents: list[str], shown: list[int], state: Session, *values: Any) -> list[Any]:
        kept = dict(zip(shown, collect_strengths(shown, *values), strict=True))
        return strength_updates(parse_latent_ids(latents), kept, state.lens_labels())

    # `.input` fires on user edits only, so updates made by other events never loop back.
    tab.picker.input(
        on_pick,
        [tab.picker, tab.shown, state, *tab.strengths, tab.more_strengths],
        tab.strength_outputs,
        **private("pick_latents"),
    )

    def alpha_from_log(x: float) -> float:
        return float(f"{10 ** float(x):.3g}")

    def log_from_alpha(a: float | None) -> Any:
        return gr.update(value=log_alpha(a)) if a and a > 0 else gr.update()

    tab.alpha_log.input(alpha_from_log, tab.alpha_log, tab.alpha, **private("alpha_from_log"))
    tab.alpha.input(log_from_alpha, tab.alpha, tab.alpha_log, **private("log_from_alpha"))


def strengths_then(event_source: Any, tab: SteeringTab, name: str) -> Any:
    """Fill the strengths list from the sliders and the table, then (`.success`) run what follows: a button's
    event reads the strengths as they are on screen when it is pressed, however fast it follows a slider."""
    return event_source(
        user_errors(collect_strengths), tab.strength_sources, tab.strength_list, **private(f"strengths_{name}")
    )
