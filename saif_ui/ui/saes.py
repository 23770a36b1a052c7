"""SAEs tab: the attached SAEs, adding one (sae-lens registry id or an upload) or training one here (`ui.train`),
and the chosen SAE's quality report, training record, special-token latents and FAST vs block training."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import gradio as gr

from saif_ui.resources import doc
from saif_ui.service import Backend
from saif_ui.ui import figures
from saif_ui.ui.tables import quality_table, sae_table, special_latent_table
from saif_ui.ui.train import TrainPanel, build_train_panel, wire_train_panel
from saif_ui.ui.widgets import MODEL_EVENT, PROGRESS, TRACK_TQDM, gpu, private, session_of, user_errors

FAST_DOC = doc("FAST.md")


@dataclass
class SaesTab:
    attached: gr.Dataframe
    registry: gr.Textbox
    registry_btn: gr.Button
    upload: gr.File
    upload_btn: gr.Button
    load_status: gr.Markdown
    quality: gr.Dataframe
    measure_btn: gr.Button
    details: gr.Markdown
    curves: gr.Plot
    special: gr.Dataframe
    train: TrainPanel


def markdown_section(text: str, heading: str) -> str:
    """The body of the `## heading` section of a Markdown document (up to the next `## `), or ''."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    return match.group(1).strip() if match else ""


def details_markdown(info: dict[str, Any], manifest: dict[str, Any] | None, report: dict[str, Any] | None) -> str:
    """Who the SAE is and how it was trained (from its manifest when it ships one)."""
    lines = [
        f"#### {info['name']}",
        f"Layer {info['layer']} · {info['d_sae']:,} latents · {info['architecture']} · hook `{info['hook_name']}` · "
        f"{info['origin']}",
    ]
    if manifest:
        train, harvest = manifest.get("train", {}), manifest.get("harvest", {})
        lines.append(
            f"Trained with **{str(manifest.get('method', '?')).upper()}** on {harvest.get('n_tokens', 0):,} harvested "
            f"activations ({harvest.get('n_sequences', '?')} sequences): {train.get('steps', '?')} steps of "
            f"{train.get('batch_size', '?')} in {train.get('seconds', '?')} s, lr {train.get('lr', '?')}, "
            f"seed {train.get('seed', '?')}."
        )
        if manifest.get("command"):
            lines.append(f"```\n{manifest['command']}\n```")
    if report is None:
        lines.append("No quality report yet: **Measure quality** runs a quick one (a few minutes on a CPU).")
    elif report.get("measured"):
        lines.append(f"Quality measured {report['measured']}.")
    return "\n\n".join(lines)


def build_saes_tab(backend: Backend, sae: gr.Dropdown) -> SaesTab:
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    attached = gr.Dataframe(
        sae_table(backend.saes.table_rows()).frame(),
        label="Attached SAEs (click to use)",
        interactive=False,
        elem_id="sae-table",
    )
    with gr.Row():
        with gr.Column():
            registry = gr.Textbox(
                label="sae-lens registry id (release/sae_id)",
                placeholder="gemma-scope-2-270m-it-res/layer_12_width_16k_l0_medium",
                info="offline here: registry SAEs cannot be downloaded" if offline else "downloads from the hub",
                interactive=not offline,
            )
            registry_btn = gr.Button("Load from the registry", size="sm", interactive=not offline)
        with gr.Column():
            upload = gr.File(
                label="Upload an SAE: cfg.json + weights (.safetensors)",
                file_count="multiple",
                file_types=[".json", ".safetensors"],
            )
            upload_btn = gr.Button("Load the upload", size="sm")
    load_status = gr.Markdown()
    gr.Markdown("### Quality (held-out chats): FAST's MSE and MSE on special tokens (log2), EV, L0, dead, ΔCE")
    first, table, fig, specials, measure = details_values(backend, backend.saes.default())
    quality = gr.Dataframe(table, interactive=False, elem_id="quality-table")
    measure_btn = gr.Button("Measure quality of the chosen SAE", size="sm", visible=measure)
    details = gr.Markdown(first, elem_id="sae-details")
    with gr.Row():
        curves = gr.Plot(fig)
        special = gr.Dataframe(
            specials if specials is not None else special_latent_table(None).frame(),
            label="Special-token latents (avg max activation)",
            interactive=False,
        )
    with gr.Accordion("Train an SAE here (FAST or BT, or both side by side)", open=False, elem_id="train-panel"):
        train = build_train_panel(backend)
    with gr.Accordion("FAST vs block training (docs/FAST.md)", open=False):
        text = FAST_DOC.read_text(encoding="utf-8") if FAST_DOC.is_file() else ""
        gr.Markdown(markdown_section(text, "FAST vs BT") or "docs/FAST.md has no FAST vs BT section.")
    tab = SaesTab(
        attached,
        registry,
        registry_btn,
        upload,
        upload_btn,
        load_status,
        quality,
        measure_btn,
        details,
        curves,
        special,
        train,
    )
    _wire(backend, tab, sae)
    wire_train_panel(backend, train, sae, attached)
    return tab


def details_values(backend: Backend, sae: str | None, session: str | None = None) -> tuple[str, Any, Any, Any, bool]:
    """Details markdown, quality table (every attached SAE), training figure, special-token latents of `sae`, and
    whether the Measure button is needed (no report yet)."""
    reports = {name: backend.saes.report(name) for name in backend.shelf.visible(session)}
    if not sae:
        return "No SAE is attached.", quality_table(reports).frame(), figures.training_curves({}), None, False
    info = backend.saes.info(sae)
    report = reports.get(sae)
    curves = backend.saes.training_curves(sae)
    manifest = backend.saes.manifest(sae)
    rerun = None if curves else backend.saes.recipe_curve(sae)
    if curves:
        fig = figures.training_curves(curves, f"training of {sae}")
    elif rerun is not None:
        fig = figures.training_curves(rerun[0], rerun_title(sae, rerun[1]))
    else:
        stats = (manifest or {}).get("train", {})
        note = f" ({stats['steps']} steps in {stats['seconds']} s)" if stats.get("steps") else ""
        fig = figures.empty_figure(f"No training curve was recorded for {sae}{note}.", 220)
    return (
        details_markdown(info, manifest, report),
        quality_table(reports).frame(),
        fig,
        special_latent_table(report).frame(),
        report is None,
    )


def rerun_title(sae: str, about: dict[str, Any]) -> str:
    """Says the curve is a re-run's, not the shipped weights' own, with both explained variances."""
    q = about.get("quality", {})
    ev = [q.get(side, {}).get("explained_variance") for side in ("rerun", "shipped")]
    same = "" if None in ev else f"; EV {ev[0]:.4f} re-run vs {ev[1]:.4f} shipped"
    return f"re-run of {sae}'s recipe, not the shipped weights' own curve{same}"


def _wire(backend: Backend, tab: SaesTab, sae: gr.Dropdown) -> None:
    @user_errors
    def sae_details(sae: str, request: gr.Request) -> tuple[Any, ...]:
        *values, measure = details_values(backend, sae, session_of(request))
        return (*values, gr.update(visible=measure))

    detail_outputs = [tab.details, tab.quality, tab.curves, tab.special, tab.measure_btn]
    sae.change(sae_details, sae, detail_outputs, api_name="sae_details")

    def attached_update(new: str, session: str) -> tuple[Any, Any, str]:
        table = sae_table(backend.saes.table_rows(session)).frame()
        note = "" if backend.shelf.config.shared_uploads else " (visible to you only; it is detached when you leave)"
        return gr.update(choices=backend.saes.choices(session), value=new), table, f"Attached **{new}**{note}."

    @gpu("load_sae")
    @user_errors
    def load_registry_sae(source: str, request: gr.Request, progress: gr.Progress = PROGRESS) -> tuple[Any, Any, str]:
        progress(0, desc=f"loading {source}")
        session = session_of(request)
        return attached_update(backend.saes.add_registry_sae(source, session), session)

    @gpu("load_sae")
    @user_errors
    def upload_sae(files: list[str] | None, request: gr.Request) -> tuple[Any, Any, str]:
        if not files:
            raise gr.Error("Choose the SAE's cfg.json and .safetensors first.")
        session = session_of(request)
        return attached_update(backend.saes.add_uploaded_sae(files, session), session)

    load_outputs = [sae, tab.attached, tab.load_status]
    tab.registry_btn.click(load_registry_sae, tab.registry, load_outputs, api_name="load_registry_sae", **MODEL_EVENT)
    tab.upload_btn.click(upload_sae, tab.upload, load_outputs, api_name="upload_sae", **MODEL_EVENT)

    def use_row(evt: gr.SelectData) -> Any:
        row = evt.row_value if evt.row_value else None
        return gr.update(value=row[0]) if row else gr.update()

    tab.attached.select(use_row, None, sae, **private("use_sae_row"))

    @gpu("quality")
    @user_errors
    def measure_quality(sae: str, request: gr.Request, progress: gr.Progress = TRACK_TQDM) -> tuple[Any, ...]:
        if not sae:
            raise gr.Error("No SAE is chosen.")
        progress(0, desc="harvesting the check sample and measuring")
        with backend.jobs.run(session_of(request), "quality measurement"):
            backend.saes.measure_quality(sae)
        return sae_details(sae, request)

    tab.measure_btn.click(measure_quality, sae, detail_outputs, api_name="measure_quality", **MODEL_EVENT)
