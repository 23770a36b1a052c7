"""The Findings tab (`ui.findings`): the document with its image links served by the app."""

from __future__ import annotations

from saif_ui.ui.findings import findings_markdown


def test_findings_image_links(tmp_path) -> None:
    (tmp_path / "FINDINGS.md").write_text("![plot](figures/a.png) ![web](https://x.org/b.png)")
    text = findings_markdown(tmp_path / "FINDINGS.md")
    assert f"/gradio_api/file={tmp_path}/figures/a.png" in text and "(https://x.org/b.png)" in text
    assert "not been generated" in findings_markdown(tmp_path / "missing.md")
