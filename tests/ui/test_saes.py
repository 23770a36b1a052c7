"""The SAEs tab's text helpers (`ui.saes`): a section of a document, and a re-run curve's title."""

from __future__ import annotations

from saif_ui.ui.saes import markdown_section, rerun_title


def test_markdown_section() -> None:
    doc = "# T\n## FAST vs BT\nbody *here*\n## Next\nrest"
    assert markdown_section(doc, "FAST vs BT") == "body *here*" and markdown_section(doc, "Missing") == ""


def test_a_rerun_curve_is_titled_as_a_reruns_with_both_explained_variances() -> None:
    about = {"quality": {"rerun": {"explained_variance": 0.85481}, "shipped": {"explained_variance": 0.855}}}
    title = rerun_title("L15_fast_topk64", about)
    assert title.startswith("re-run of L15_fast_topk64's recipe, not the shipped weights' own curve")
    assert "EV 0.8548 re-run vs 0.8550 shipped" in title
    assert "EV" not in rerun_title("L15_fast_topk64", {"quality": {"rerun": {}}})  # nothing measured: no figures
