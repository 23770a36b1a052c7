"""Findings tab: the regenerated findings document (docs/FINDINGS.md) with its figures."""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr

from saif_ui.resources import docs_dir
from saif_ui.ui.widgets import user_errors

DOCS = docs_dir()
FINDINGS = DOCS / "FINDINGS.md"
_IMAGE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))")


def findings_markdown(path: Path = FINDINGS) -> str:
    """The document with relative image links turned into the app's file URLs (the docs folder is served)."""
    if not path.is_file():
        return (
            "No findings yet: `docs/FINDINGS.md` has not been generated in this checkout. "
            "`python -m saif_ui findings` writes it, with its figures, from the study results shipped under "
            "`docs/studies/` (`steering-study`, `proximity-study`, `special-study` make them); then press Reload."
        )
    text = path.read_text(encoding="utf-8")

    def absolute(match: re.Match[str]) -> str:
        target = match.group(2)
        if re.match(r"^[a-z]+://", target) or target.startswith("/"):
            return match.group(0)
        file = (path.parent / target).resolve()
        return f"{match.group(1)}/gradio_api/file={file}{match.group(3)}"

    return _IMAGE.sub(absolute, text)


def build_findings_tab() -> None:
    with gr.Row():
        reload = gr.Button("Reload", size="sm", scale=0)
        gr.Markdown(f"`{FINDINGS.relative_to(DOCS.parent)}`")
    doc = gr.Markdown(findings_markdown(), elem_id="findings")

    @user_errors
    def findings() -> str:
        return findings_markdown()

    reload.click(findings, None, doc, api_name="findings")
