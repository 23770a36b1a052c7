"""The Steering tab's steer event: the chosen latents at their strengths and α, answered original / steered /
prompted (and prompted + steered), each with its verdict, and the spec as JSON. Discovery preselects its top latents.

The walk of α from the page to the hook: `steer` (the handler; controls parsed once) → `Backend.steer` →
`Backend.spec` → `spec_for_latents` → `SteeringSpec` (the one validation) → `compare` → `SteeringSpec.steerings` →
`Engine.generate` (its hooks add α × the vector)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

import gradio as gr

from saif_ui.service import Backend, Decoding, Partial, PromptChoice, Session, SteerControls, Steered, renders
from saif_ui.ui.instructions import InstructionsTab
from saif_ui.ui.steering.tab import DEFAULT_K, MODES, SteeringTab, log_alpha, strength_updates, strengths_then
from saif_ui.ui.texts import answer_and_verdict, partial_answers, recipe_md
from saif_ui.ui.widgets import MODEL_EVENT, gpu, handler, private, session_of


def answers(backend: Backend, steered: Steered, choice: PromptChoice) -> list[str]:
    """Each mode's answer and its verdict line, in the order of the tab's answer boxes."""
    checker_id = backend.instructions.resolve(choice).checker
    return [x for mode in MODES for x in answer_and_verdict(steered.comparison, mode, checker_id)]


def streamed(
    backend: Backend, request: gr.Request, skipped: int, stream: Callable[..., Iterable[Partial | Steered]], *args: Any
) -> Generator[list[Any], None, Steered]:
    """`stream(*args, stop=...)`'s answer boxes as they grow (the `skipped` outputs after them untouched), then its
    `Steered`: the visitor's Stop beside Steer sets the flag."""
    with backend.streams.open(session_of(request), "steer") as stop:
        updates = stream(*args, stop=stop)
        return (yield from renders(updates, lambda p: [*partial_answers(p, MODES), *[gr.skip()] * skipped]))


def wire_steer(
    backend: Backend, tab: SteeringTab, ins: InstructionsTab, sae: gr.Dropdown, state: gr.State, discovery: Any
) -> Any:
    """Events of the steer button; `discovery` is the discovery event, after which the top latents are preselected.
    Returns the steer event (for the Stop button, which it shares with the recipe's)."""

    def after_discovery(state: Session) -> list[Any]:
        top = state.ranked_ids()[:DEFAULT_K]
        picker = gr.update(choices=state.latent_choices(), value=[str(i) for i in top])
        return [picker, *strength_updates(top, {}, state.lens_labels())]

    discovery.success(after_discovery, [state], [tab.picker, *tab.strength_outputs], **private("steer_after_discovery"))

    outputs = [c for mode in MODES for c in tab.answers[mode]]
    rest = [tab.spec_json, state]

    @gpu("steer")
    @handler
    def steer(
        controls: SteerControls,
        choice: PromptChoice,
        sae: str,
        prompted_steered: bool,
        decoding: Decoding,
        state: Session,
        request: gr.Request,
    ) -> Iterator[list[Any]]:
        stream = backend.steering.steer_stream
        args = (choice, sae, controls, state.discovery, decoding, bool(prompted_steered))
        steered = yield from streamed(backend, request, len(rest), stream, *args)
        if steered.silent:
            gr.Warning(
                f"Latents {steered.silent} never fire under the instruction (mean activation 0): at the mean_act "
                "scale they add nothing. Use the unit scale to push along their directions."
            )
        state.comparison = steered.comparison
        yield [*answers(backend, steered, choice), steered.spec.to_json(), state]

    return strengths_then(tab.steer_btn.click, tab, "steer").success(
        steer,
        [*tab.spec_inputs, *ins.prompt_inputs, sae, tab.prompted_steered, *tab.decoding_inputs, state],
        [*outputs, *rest],
        api_name="steer",
        **MODEL_EVENT,
    )


def wire_recipe(backend: Backend, tab: SteeringTab, ins: InstructionsTab, sae: gr.Dropdown, state: gr.State) -> Any:
    """The validated recipe: shown for the chosen instruction, and applied in one click (answers, and the controls
    set to the recipe's latents, α, positions and decay so the sweep and the spec show it). Returns the apply event
    (the Stop beside Steer stops it too: they share the answer boxes)."""

    def show(instruction: str, sae: str) -> str:
        return recipe_md(backend.steering.recipe_view(instruction))

    ins.instruction.change(show, [ins.instruction, sae], tab.recipe_md, **private("show_recipe"))
    sae.change(show, [ins.instruction, sae], tab.recipe_md, **private("show_recipe_for_sae"))
    outputs = [c for mode in MODES for c in tab.answers[mode]]
    controls = [tab.picker, tab.alpha, tab.alpha_log, tab.positions, tab.scale, tab.decay, tab.method]
    rest = [tab.spec_json, state, *controls, *tab.strength_outputs]

    @gpu("steer")
    @handler
    def steer_recipe(
        choice: PromptChoice,
        prompted_steered: bool,
        decoding: Decoding,
        state: Session,
        request: gr.Request,
    ) -> Iterator[list[Any]]:
        stream = backend.steering.steer_recipe_stream
        steered = yield from streamed(backend, request, len(rest), stream, choice, decoding, bool(prompted_steered))
        state.comparison = steered.comparison
        spec = steered.spec
        out = answers(backend, steered, choice)
        ids = [e.latent for e in spec.latents]
        choices = state.latent_choices()
        choices += [(str(i), str(i)) for i in ids if str(i) not in {v for _, v in choices}]
        picker = gr.update(choices=choices, value=[str(i) for i in ids])
        controls = [picker, spec.alpha, log_alpha(spec.alpha), spec.positions, spec.scale, spec.decay, spec.method]
        strengths = strength_updates(ids, {e.latent: e.strength for e in spec.latents}, state.lens_labels())
        yield [*out, spec.to_json(), state, *controls, *strengths]

    return tab.recipe_btn.click(
        steer_recipe,
        [*ins.prompt_inputs, tab.prompted_steered, *tab.decoding_inputs, state],
        [*outputs, *rest],
        api_name="steer_recipe",
        **MODEL_EVENT,
    )
