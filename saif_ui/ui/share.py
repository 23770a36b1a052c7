"""Export / import / share bar: an exploration as JSON, every table as CSV, and a link whose query parameters preload
instruction, layer, latents, strengths and α (read on page load)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gradio as gr

from saif_ui.service import (
    CUSTOM,
    DEFAULT_POSITIONS,
    DEFAULT_SCORE,
    Backend,
    Decoding,
    PromptChoice,
    Session,
    SteerControls,
    parse_latent_ids,
    parse_strengths,
)
from saif_ui.ui.export import (
    DECODING_KEYS,
    exploration,
    parse_exploration,
    parse_query,
    share_query,
    write_csvs,
    write_json,
)
from saif_ui.ui.instructions import InstructionsTab, discovery_status
from saif_ui.ui.latents import LatentsTab
from saif_ui.ui.steering.chat import ChatSection, column_views
from saif_ui.ui.steering.tab import MODES, SteeringTab, log_alpha, strength_updates, strengths_then
from saif_ui.ui.tables import grid_table, latent_table, sweep_table
from saif_ui.ui.texts import answer_and_verdict
from saif_ui.ui.widgets import gpu, session_of, user_errors


@dataclass
class ShareBar:
    export_json_btn: gr.Button
    export_csv_btn: gr.Button
    files: gr.File
    import_file: gr.File
    import_btn: gr.Button
    link_btn: gr.Button
    link: gr.Textbox
    status: gr.Markdown


def build_share_bar() -> ShareBar:
    with gr.Accordion("Export · import · share", open=False, elem_id="share-bar"):
        with gr.Row():
            export_json_btn = gr.Button("Export exploration (JSON)", size="sm", elem_id="export-json")
            export_csv_btn = gr.Button("Export tables (CSV)", size="sm", elem_id="export-csv")
            link_btn = gr.Button("Shareable link", size="sm", elem_id="share-link")
        with gr.Row():
            files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")
            import_file = gr.File(label="Import an exploration (JSON)", file_types=[".json"], elem_id="import-file")
        import_btn = gr.Button("Import", size="sm")
        link = gr.Textbox(label="Link (opens this instruction, layer, latents and α)", buttons=["copy"], elem_id="link")
        status = gr.Markdown()
    return ShareBar(export_json_btn, export_csv_btn, files, import_file, import_btn, link_btn, link, status)


def control_components(ins: InstructionsTab, steer: SteeringTab, sae: gr.Dropdown) -> dict[str, Any]:
    """Every control an exploration records, by the name `export.CONTROL_KEYS` uses."""
    return {
        "instruction": ins.instruction,
        "custom_text": ins.custom_text,
        "checker": ins.checker,
        "content": ins.content,
        "placement": ins.placement,
        "system_prompt": ins.system_prompt,
        "sae": sae,
        "latents": steer.picker,
        "strengths": steer.strength_list,
        "alpha": steer.alpha,
        "positions": steer.positions,
        "scale": steer.scale,
        "decay": steer.decay,
        "decay_power": steer.decay_power,
        "method": steer.method,
        "prompted_steered": steer.prompted_steered,
        **dict(zip(DECODING_KEYS, steer.decoding_inputs, strict=True)),
    }


def named(names: Sequence[str], fn: Callable[[dict[str, Any]], Any], name: str) -> Callable[..., Any]:
    """A handler whose parameters are `names` — so the API page and gradio_client show each control by name — and
    which hands them to `fn` as one dict."""

    def handler(*args: Any) -> Any:
        return fn(dict(zip(names, args, strict=True)))

    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
    )
    handler.__name__ = handler.__qualname__ = name
    return user_errors(handler)


def _controls(values: dict[str, Any]) -> dict[str, Any]:
    """Component values -> `export.exploration` controls (the strengths list as a latent -> strength mapping)."""
    latents = parse_latent_ids(values.get("latents"))
    out = {k: v for k, v in values.items() if k != "state"}
    out["strengths"] = dict(zip(latents, parse_strengths(values.get("strengths"), len(latents)), strict=True))
    return out


def wire_share(
    backend: Backend,
    bar: ShareBar,
    ins: InstructionsTab,
    lat: LatentsTab,
    steer: SteeringTab,
    sae: gr.Dropdown,
    state: gr.State,
    demo: gr.Blocks,
    chat: ChatSection,
) -> None:
    comps = control_components(ins, steer, sae)
    names = [*comps, "state"]
    inputs = [*comps.values(), state]

    def export_json(values: dict[str, Any]) -> list[str]:
        record = exploration(_controls(values), values["state"], backend.model_id, backend.saes.layer_of(values["sae"]))
        return [str(write_json(record))]

    def export_csv(values: dict[str, Any]) -> list[str]:
        paths = write_csvs(values["state"])
        if not paths:
            raise gr.Error("No table to export yet: run discovery, a steer or a sweep first.")
        return [str(p) for p in paths]

    strengths_then(bar.export_json_btn.click, steer, "export_json").success(
        named(names, export_json, "export_json"), inputs, bar.files, api_name="export_json"
    )
    strengths_then(bar.export_csv_btn.click, steer, "export_csv").success(
        named(names, export_csv, "export_csv"), inputs, bar.files, api_name="export_csv"
    )

    # ---------------------------------------------------------------- import
    restored = [
        lat.table,
        lat.flagged,
        ins.status,
        *[c for m in MODES for c in steer.answers[m]],
        steer.spec_json,
        steer.sweep_table,
        steer.grid_table,
    ]

    import_targets = [c for n, c in comps.items() if n != "strengths"]

    @user_errors
    def import_json(file: str | None) -> list[Any]:
        if not file:
            raise gr.Error("Choose an exploration file (.json) first.")
        imported = parse_exploration(Path(file).read_bytes())  # size, UTF-8 and nesting checked there
        c, session = imported.controls, imported.session
        notes = list(imported.warnings)
        if imported.model and imported.model != backend.model_id:
            notes.append(f"it was made with {imported.model}; this app runs {backend.model_id}")
        if c.get("sae") and not backend.saes.has(c["sae"]):
            notes.append(f"SAE {c.pop('sae')!r} is not attached here")
        if c.get("instruction") not in (*backend.instructions.catalogue_ids(), CUSTOM):
            notes.append(f"instruction {c.pop('instruction', None)!r} is not in this catalogue")
        latents = c.pop("latents", [])
        strengths = c.pop("strengths", {})
        updates = {n: gr.update(value=c[n]) if n in c else gr.update() for n in comps if n != "strengths"}
        choices = session.latent_choices() or [(f"#{i}", str(i)) for i in latents]
        updates["latents"] = gr.update(choices=choices, value=[str(i) for i in latents])
        shown = strength_updates(latents, strengths, session.lens_labels())
        checker = backend.instructions.checker_of(session.comparison.instruction if session.comparison else None)
        restored_values = _restored_outputs(session, checker)
        note = "Imported." + (f" Note: {'; '.join(notes)}." if notes else "")
        alpha = c.get("alpha")
        alpha_log = gr.update(value=log_alpha(alpha)) if isinstance(alpha, int | float) and alpha > 0 else gr.update()
        return [*updates.values(), *shown, alpha_log, session, *restored_values, note]

    bar.import_btn.click(
        import_json,
        bar.import_file,
        [*import_targets, *steer.strength_outputs, steer.alpha_log, state, *restored, bar.status],
        api_name="import_json",
    )

    # ---------------------------------------------------------------- share link
    @user_errors
    def link(
        instruction: str,
        custom_text: str,
        sae: str,
        latents: list[str],
        strengths: list[float] | None,
        alpha: float,
        placement: str,
        chat_source: str,
        state: Session,
        request: gr.Request,
    ) -> str:
        ids = parse_latent_ids(latents)
        by_id = dict(zip(ids, parse_strengths(strengths, len(ids)), strict=True))
        messages = [t.user for t in state.conversation.turns] if state.conversation else []
        layer = backend.saes.layer_of(sae)
        query = share_query(instruction, custom_text, layer, ids, alpha, by_id, placement, messages, chat_source)
        return f"{page_address(request)}?{query}"

    strengths_then(bar.link_btn.click, steer, "share_link").success(
        link,
        [
            ins.instruction,
            ins.custom_text,
            sae,
            steer.picker,
            steer.strength_list,
            steer.alpha,
            ins.placement,
            chat.source,
            state,
        ],
        bar.link,
        api_name="share_link",
    )

    # ---------------------------------------------------------------- page load with a link
    load_outputs = [
        ins.instruction,
        ins.custom_text,
        sae,
        ins.placement,
        steer.picker,
        steer.alpha,
        steer.alpha_log,
        *steer.strength_outputs,
        lat.table,
        lat.flagged,
        ins.status,
        chat.source,
        *[c for pair in chat.columns.values() for c in pair],
        state,
        bar.status,
    ]
    n_out = len(load_outputs)

    @gpu("link")
    @user_errors
    def load_link(state: Session, request: gr.Request) -> list[Any]:
        params = dict(request.query_params) if request is not None else {}
        session = session_of(request)
        link = parse_query(
            params, backend.instructions.catalogue_ids(), backend.saes.layers(session), backend.shelf.visible(session)
        )
        if link.empty and link.alpha is None:
            return [gr.update()] * (n_out - 2) + [state, _link_note(link)]
        out: list[Any] = [
            gr.update(value=link.instruction) if link.instruction else gr.update(),
            gr.update(value=link.custom_text) if link.custom_text else gr.update(),
            gr.update(value=link.sae) if link.sae else gr.update(),
            gr.update(value=link.placement) if link.placement else gr.update(),
        ]
        sae_name = link.sae or backend.saes.default()
        if link.latents and link.instruction and sae_name:
            # Steering needs each latent's mean activation under the instruction: rerun discovery (disk-cached).
            choice = PromptChoice(
                link.instruction,
                link.custom_text or "",
                placement=link.placement or "post",
                system_prompt=backend.default_system_prompt,
            )
            state.discovery = backend.discovery.discover(
                choice, sae_name, positions=DEFAULT_POSITIONS, score=DEFAULT_SCORE, top_k=20, n_contents=48
            )
        choices = state.latent_choices() + [(f"#{i}", str(i)) for i in link.latents if i not in state.ranked_ids()]
        out.append(gr.update(choices=choices, value=[str(i) for i in link.latents]) if link.latents else gr.update())
        alpha = link.alpha
        out.append(gr.update(value=alpha) if alpha is not None else gr.update())
        out.append(gr.update(value=log_alpha(alpha)) if alpha and alpha > 0 else gr.update())
        out += (
            strength_updates(link.latents, link.strengths, state.lens_labels())
            if link.latents
            else [gr.update()] * len(steer.strength_outputs)
        )
        if state.discovery:
            out += [
                latent_table(state.discovery).frame(),
                latent_table(state.discovery, flagged=True).frame(),
                discovery_status(state.discovery),
            ]
        else:
            out += [gr.update()] * 3
        out += _replayed_chat(backend, link, state, sae_name)
        return [*out, state, _link_note(link)]

    demo.load(load_link, [state], load_outputs, api_name="load_link")


def _replayed_chat(backend: Backend, link: Any, state: Session, sae: str | None) -> list[Any]:
    """A link's chat answered again (with the page's default decoding; the result cache answers turns it has seen):
    the source radio and each column's messages and verdicts, or no change when the link has no chat."""
    if not link.chat or not link.instruction:
        return [gr.update()] * (1 + 2 * 3)
    choice = PromptChoice(
        link.instruction,
        link.custom_text or "",
        placement=link.placement or "post",
        system_prompt=backend.default_system_prompt,
    )
    ids = [str(i) for i in link.latents]
    controls = SteerControls.parse(ids, [link.strengths.get(i, 1.0) for i in link.latents], link.alpha or 1.0)
    spec = backend.chat.spec(link.chat_source or "recipe", choice, sae, controls, state.discovery)
    reply = backend.chat.replay(choice, spec, link.chat, Decoding())
    state.conversation = reply.conversation if reply else None
    checker = backend.instructions.resolve(choice).checker
    return [link.chat_source, *column_views(reply, state, checker)]


def _link_note(link: Any) -> str:
    """A note for the share bar, also raised as a toast (the bar is folded away) when the link was refused."""
    if link.errors:
        note = "The link asked for something this app cannot do: " + "; ".join(link.errors)
        gr.Warning(note)
        return "⚠ " + note
    return "" if link.empty else "Loaded from the link."


def _restored_outputs(session: Session, checker: str | None) -> list[Any]:
    """Values of the tables and answers an imported session shows again."""
    comp = session.comparison
    answers = [x for mode in MODES for x in answer_and_verdict(comp, mode, checker)]
    return [
        latent_table(session.discovery).frame(),
        latent_table(session.discovery, flagged=True).frame(),
        discovery_status(session.discovery),
        *answers,
        comp.spec.to_json() if comp else "",
        sweep_table(session.evaluation).frame(),
        grid_table(session.grid).frame(),
    ]


def page_address(request: gr.Request | None) -> str:
    """The page's own address (scheme, host, path) as the browser sees it, from the Referer or the Host header."""
    headers = dict(getattr(request, "headers", {}) or {})
    referer = headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"
    host = headers.get("x-forwarded-host") or headers.get("host") or "127.0.0.1:7860"
    scheme = headers.get("x-forwarded-proto") or "http"
    return f"{scheme}://{host}/"
