"""The demo panel's texts: the figures with their intervals and the passage's place, the discovered latents with the
recipe's marked, and the verdict's three conditions (none for a stopped answer)."""

from __future__ import annotations

from types import SimpleNamespace

from saif_ui.saif.inputs.contents import load_contents
from saif_ui.service import Demo, Passage, Verdict
from saif_ui.ui.demos import about_md, button_label, button_rows, latents_md, verdict_md

DEMO = Demo(
    "one_sentence", "Summarize the text in one sentence.", "length", "distil_sae", 96,
    (0.76, 0.67, 0.83), (0.08, 0.04, 0.16), (0.97, 0.91, 0.99), saif_latents=(7, 9), applied_latents=(9, 11, 12),
)  # fmt: skip


def row(i: int, label: str = "") -> SimpleNamespace:
    return SimpleNamespace(id=i, score=10.0 - i, label=label)


def test_the_figures_and_the_passage_are_said_before_anything_runs() -> None:
    content = load_contents("test")[4]
    text = about_md(DEMO, Passage(4, 96, content))
    assert "76% [67%, 83%]" in text and "8% [4%, 16%] unsteered" in text and "97% [91%, 99%] when told" in text
    assert "Test passage 5 of 96 (in file order, not picked)" in text and content.text in text
    assert "distilled: SAE latents" in text
    assert button_label(DEMO) == "Summarize the text in one sentence. — 76% not told vs 8%"


def test_discovered_latents_mark_saifs_recipe_and_the_distilled_vector() -> None:
    assert "contrasting prompts" in latents_md(None, DEMO)
    found = SimpleNamespace(
        sae="L15", layer=15, n_pairs=48, cached=False, seconds=3.04, latents=[row(7, "':'"), row(9), row(11), row(3)]
    )
    text = latents_md(found, DEMO)
    assert "| 1 | 7 ★ | 3.00 | ':' |" in text and "| 2 | 9 ★ ◆ | 1.00 | – |" in text and "| 3 | 11 ◆ |" in text
    assert "| 4 | 3 |" in text and "(3.0 s)" in text
    assert "a combination of 3 SAE latents, 2 of them among these 4." in text
    free = Demo(**{**DEMO.__dict__, "method": "distil_free", "applied_latents": ()})
    assert "a free vector" in latents_md(found, free) and "◆" not in latents_md(found, free)
    saif = Demo(**{**DEMO.__dict__, "method": "steered", "applied_latents": (7, 9)})
    assert "◆" not in latents_md(found, saif) and "distilled" not in latents_md(found, saif)


def test_the_verdict_names_each_condition_and_none_for_a_stopped_answer() -> None:
    assert "generating" in verdict_md(None)
    good = verdict_md(Verdict(True, 0.02, 0.5, 31.0, 24.0))
    assert good.startswith("**Step 3 · verdict ✓: success**") and "chrF 31 to the told answer, threshold 24" in good
    bad = verdict_md(Verdict(True, 0.7, 0.5, 31.0, 24.0))
    assert "not a success" in bad and "loop yes (repeats 70%, limit 50%)" in bad
    assert "no verdict on an unfinished answer" in verdict_md(Verdict(True, 0.0, 0.5, 31.0, 24.0), stopped=True)


def test_demo_buttons_fill_balanced_rows_of_at_most_five() -> None:
    assert button_rows(0) == [] and button_rows(5) == [5]
    assert button_rows(7) == [4, 3]  # not 5 + 2, nor 6 + a lone seventh at full width
    assert button_rows(11) == [4, 4, 3]
    assert all(sum(button_rows(n)) == n and max(button_rows(n)) <= 5 for n in range(1, 40))
