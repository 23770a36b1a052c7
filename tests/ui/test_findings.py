"""The Findings tab (`ui.findings`): the document with its image links, and its links to files beside it, served by
the app."""

from __future__ import annotations

from saif_ui.ui.findings import findings_markdown


def test_findings_image_links(tmp_path) -> None:
    (tmp_path / "FINDINGS.md").write_text("![plot](figures/a.png) ![web](https://x.org/b.png)")
    text = findings_markdown(tmp_path / "FINDINGS.md")
    assert f"/gradio_api/file={tmp_path}/figures/a.png" in text and "(https://x.org/b.png)" in text
    assert "not been generated" in findings_markdown(tmp_path / "missing.md")


def test_findings_links_to_files_beside_the_document_are_served(tmp_path) -> None:
    """The claims table's figure links and links to shipped files become file URLs; a folder, an anchor, a web
    address, a missing file or a file outside the document's folder keep their link."""
    docs = tmp_path / "docs"
    (docs / "figures").mkdir(parents=True)
    (docs / "figures" / "layers.png").write_bytes(b"png")
    (docs / "findings.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("x")
    (docs / "FINDINGS.md").write_text(
        "| claim | figure |\n|---|---|\n| c | [figure](figures/layers.png) |\n\n"
        "[findings.json](findings.json) [studies/](studies/) [folder](figures) [up](#claims-at-a-glance) "
        "[web](https://x.org/a.png) [gone](figures/none.png) [out](../secret.txt) [mail](mailto:a@b.c)\n\n"
        "<details><summary>More</summary>\n\n![plot](figures/layers.png)\n\n</details>\n"
    )
    text = findings_markdown(docs / "FINDINGS.md")
    assert f"| c | [figure](/gradio_api/file={docs}/figures/layers.png) |" in text
    assert f"[findings.json](/gradio_api/file={docs}/findings.json)" in text
    assert f"![plot](/gradio_api/file={docs}/figures/layers.png)" in text
    for kept in ("[studies/](studies/)", "[folder](figures)", "[up](#claims-at-a-glance)", "[web](https://x.org/a.png)",
                 "[gone](figures/none.png)", "[out](../secret.txt)", "[mail](mailto:a@b.c)"):  # fmt: skip
        assert kept in text
    assert "<details><summary>More</summary>" in text  # the fold reaches the component untouched
