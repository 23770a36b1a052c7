"""Long jobs: one per visitor at a time, Stop sets only that visitor's flag, and nothing outlives its job."""

from __future__ import annotations

import threading

import pytest

from saif_ui.service.jobs import Busy, Jobs


def test_one_job_per_session_and_the_slot_frees_when_it_ends() -> None:
    jobs = Jobs()
    with jobs.run("alice", "sweep"):
        busy = "your sweep is still running: wait for it or press Stop before starting a grid"
        with pytest.raises(Busy, match=busy), jobs.run("alice", "grid"):
            pass
        with jobs.run("bob", "grid"):  # other visitors are not held up
            assert jobs.running() == {"alice": "sweep", "bob": "grid"}
    assert jobs.running() == {}
    with jobs.run("alice", "grid"):
        pass


def test_the_slot_frees_after_an_exception() -> None:
    jobs = Jobs()
    with pytest.raises(RuntimeError), jobs.run("alice", "sweep"):
        raise RuntimeError("boom")
    assert jobs.running() == {}


def test_stop_sets_only_that_sessions_flag() -> None:
    jobs = Jobs()
    assert not jobs.cancel("alice")  # nothing running: nothing to stop
    with jobs.run("alice", "sweep") as a, jobs.run("bob", "sweep") as b:
        assert jobs.cancel("alice")
        assert a.is_set() and not b.is_set()


def test_many_sessions_leave_no_entries_behind() -> None:
    jobs = Jobs()

    def work(i: int) -> None:
        with jobs.run(f"s{i}", "sweep"):
            pass

    threads = [threading.Thread(target=work, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert jobs.running() == {}
