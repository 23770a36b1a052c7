"""The training queue: one training at a time in arrival order, places shown, Stop for queued and running ones,
one per visitor, bounded, and a failure that does not take the worker down."""

from __future__ import annotations

import threading

import pytest

from saif_ui.service.trainings import AlreadyTraining, QueueFull, TrainingQueue


class Gate:
    """Work that reports progress, then waits until released (or stopped) — so a test decides when it ends."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, monitor) -> str:
        self.log.append(f"start {self.name}")
        self.started.set()
        for step in range(1000):
            monitor.update("train", step, 1000)
            if monitor.stopped():
                raise RuntimeError("stopped")
            if self.release.wait(0.01):
                break
        self.log.append(f"end {self.name}")
        return f"result {self.name}"


def test_trainings_run_one_at_a_time_in_arrival_order_with_their_places() -> None:
    q, log = TrainingQueue(), []
    a, b, c = Gate("a", log), Gate("b", log), Gate("c", log)
    q.submit("s1", "A", a, estimate_s=60)
    assert a.started.wait(5)
    q.submit("s2", "B", b)
    q.submit("s3", "C", c)
    first = q.status("s1")
    assert first.state == "running" and first.phase == "train" and first.estimate_s == 60
    assert (q.status("s2").state, q.status("s2").position) == ("queued", 1)
    assert q.status("s3").position == 2
    assert q.queue() == [("A", "running"), ("B", "queued"), ("C", "queued")]
    a.release.set()
    assert b.started.wait(5)
    assert q.status("s1").state == "done" and q.status("s1").result == "result a"
    assert q.status("s3").position == 1
    b.release.set()
    c.release.set()
    assert q.wait(5)
    assert log == ["start a", "end a", "start b", "end b", "start c", "end c"]  # never two at once
    assert [q.status(s).state for s in ("s1", "s2", "s3")] == ["done"] * 3


def test_stop_drops_a_queued_training_and_stops_a_running_one() -> None:
    q, log = TrainingQueue(), []
    a, b = Gate("a", log), Gate("b", log)
    q.submit("s1", "A", a)
    assert a.started.wait(5)
    q.submit("s2", "B", b)
    assert q.stop("s2") and q.status("s2").state == "stopped"
    assert q.stop("s1")
    assert q.wait(5)
    assert q.status("s1").state == "stopped" and q.status("s1").error == ""
    assert "start b" not in log  # the dropped one never ran
    assert not q.stop("nobody")


def test_one_training_per_visitor_and_a_bounded_queue() -> None:
    q, log = TrainingQueue(max_queued=2), []
    a = Gate("a", log)
    q.submit("s1", "A", a)
    with pytest.raises(AlreadyTraining, match=r"still (queued|running)"):
        q.submit("s1", "again", Gate("x", log))
    q.submit("s2", "B", Gate("b", log))
    with pytest.raises(QueueFull, match="2 trainings are already waiting or running"):
        q.submit("s3", "C", Gate("c", log))
    q.stop("s1")
    q.stop("s2")
    assert q.wait(5)


def test_a_failed_training_is_reported_and_the_next_one_still_runs() -> None:
    q = TrainingQueue()

    def broken(monitor) -> None:
        raise ValueError("d_sae must be positive")

    q.submit("s1", "broken", broken)
    q.submit("s2", "fine", lambda monitor: 42)
    assert q.wait(5)
    assert q.status("s1").state == "failed" and q.status("s1").error == "d_sae must be positive"
    assert q.status("s2").state == "done" and q.status("s2").result == 42
    # A visitor's next training replaces what is remembered of the last one.
    q.submit("s1", "again", lambda monitor: "ok")
    assert q.wait(5) and q.status("s1").result == "ok"
