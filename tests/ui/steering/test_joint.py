"""The two-instructions panel's verdict line: both checkers, the fluency signals, and why an answer is unfinished."""

from __future__ import annotations

from saif_ui.ui.steering.joint import verdicts_md

OUT = {"strict": False, "verdicts": {"french": True, "postscript": False}, "perplexity": 9.25, "repetition": 0.1}


def test_a_joint_answer_line_names_both_checkers_and_why_it_is_unfinished() -> None:
    line = verdicts_md({**OUT, "finished": True})
    assert line.startswith("**both**: **fail** ✗ · french **pass** ✓ · postscript **fail** ✗")
    assert "perplexity 9.2" in line and "repeated (loops) 10%" in line and "cut" not in line and "stopped" not in line
    assert verdicts_md({**OUT, "finished": False}).endswith("cut at max tokens")
    assert verdicts_md({**OUT, "finished": False}, stopped=True).endswith("stopped")
