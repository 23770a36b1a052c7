"""Tests for bench.timing: a speed-up figure is the ratio of two best times, with every time kept in its raw numbers."""

from __future__ import annotations

from bench.timing import speedup


def test_speedup_is_the_slow_time_over_the_fast_one_with_every_time_kept() -> None:
    t = {"batched": 1.0, "one_by_one": 4.94321}
    fig = speedup("P8", "batched vs one by one", t, "one_by_one", "batched", 5.0, digits=2, contents=24)
    assert (fig.value, fig.target, fig.met) == (4.94, 5.0, False)
    assert fig.raw == {"seconds": {"batched": 1.0, "one_by_one": 4.943}, "contents": 24}
    report = speedup("P1c", "one call vs two", {"a": 2.0, "b": 1.0}, "a", "b", None, kind="report", note="why")
    assert report.value == 2.0 and report.met is None and report.note == "why"
