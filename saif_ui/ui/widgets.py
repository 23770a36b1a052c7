"""Shared pieces of the tabs: turning library errors into `gr.Error`, typed handlers, decoding controls, answer columns,
Stop buttons (what the panels say in Markdown is `texts`)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import logging
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

import gradio as gr

from saif_ui.service import (
    USER_ERRORS,
    Backend,
    Cancelled,
    Decoding,
    PromptChoice,
    SteerControls,
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


def wire_stop(backend: Backend, button: gr.Button, panel: str, events: Sequence[Any]) -> None:
    """A streaming panel's Stop: gradio stops waiting for `events` (`cancels`), and the flag of the visitor's answers
    in `panel` ends their generation at the next token (cancelling alone leaves the worker generating)."""

    def stop(request: gr.Request) -> None:
        backend.streams.stop(session_of(request), panel)

    button.click(stop, None, None, cancels=list(events), **private(f"stop_{panel}"))
