"""Findings tab: the regenerated findings document (docs/FINDINGS.md) with its figures."""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr

from saif_ui.resources import docs_dir
from saif_ui.ui.widgets import user_errors

DOCS = docs_dir()
FINDINGS = DOCS / "FINDINGS.md"
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
"""A Markdown image or link: its opening up to the target, the target, the closing bracket."""
_URL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def findings_markdown(path: Path = FINDINGS) -> str:
    """The document with relative image links, and relative links to files beside it (the claims table's figures,
    findings.json, a study's result), turned into the app's file URLs: the docs folder is served. Links to a
    folder, an anchor or elsewhere are left as they are. The document folds its detail in `<details>` blocks, which
    the Markdown component's sanitizer keeps (its allowed elements include `details` and `summary`)."""
    if not path.is_file():
        return (
            "No findings yet: `docs/FINDINGS.md` has not been generated in this checkout. "
            "`python -m saif_ui findings` writes it, with its figures, from the study results shipped under "
            "`docs/studies/` (`steering-study`, `proximity-study`, `special-study` make them); then press Reload."
        )
    text = path.read_text(encoding="utf-8")
    root = path.parent.resolve()

    def absolute(match: re.Match[str]) -> str:
        opening, target, closing = match.groups()
        if _URL.match(target) or target.startswith(("/", "#")):
            return match.group(0)
        file = (path.parent / target).resolve()
        if not opening.startswith("!") and not (file.is_file() and file.is_relative_to(root)):
            return match.group(0)
        return f"{opening}/gradio_api/file={file}{closing}"

    return _LINK.sub(absolute, text)


def build_findings_tab() -> None:
    with gr.Row():
        reload = gr.Button("Reload", size="sm", scale=0)
        gr.Markdown(f"`{FINDINGS.relative_to(DOCS.parent)}`")
    doc = gr.Markdown(findings_markdown(), elem_id="findings")

    @user_errors
    def findings() -> str:
        return findings_markdown()

    reload.click(findings, None, doc, api_name="findings")
