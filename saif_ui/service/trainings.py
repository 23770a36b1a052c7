"""The app's training queue: SAE trainings asked for in the browser run one at a time per server, in the order they
were asked for, on one worker thread; every visitor sees where theirs stands (queued with its place, running with
its phase and progress, finished, stopped or failed) and can stop it.

One at a time because a training uses every core for minutes: two at once would each take twice as long and leave
nothing for the visitors who are steering meanwhile. The queue is bounded (a full queue refuses), each visitor has
at most one training queued or running, and only a visitor's latest finished one is remembered, so the queue's
memory never grows with the number of visitors it has served. The work itself is a callable the backend builds;
this module knows nothing of SAEs.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

State = Literal["queued", "running", "done", "stopped", "failed"]
MAX_QUEUED = 8
"""Trainings waiting or running at once, all visitors together."""
MAX_REMEMBERED = 64
"""Finished trainings remembered (the latest per visitor), oldest forgotten first."""


class QueueFull(RuntimeError):
    """Too many trainings are waiting; the message says how many."""


class AlreadyTraining(RuntimeError):
    """This visitor already has a training queued or running."""


@dataclass(frozen=True)
class TrainingView:
    """What a visitor is shown about their training."""

    id: int
    label: str
    state: State
    position: int = 0
    """Trainings ahead of this one (0 once it runs)."""
    phase: str = ""
    done: int = 0
    total: int = 0
    estimate_s: float | None = None
    started: float | None = None
    finished: float | None = None
    result: Any = None
    error: str = ""
    folders: tuple[str, ...] = ()
    """Where the run writes (its curve can be read while it trains)."""

    @property
    def elapsed_s(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")


@dataclass
class _Job:
    id: int
    session: str
    label: str
    work: Callable[[_Monitor], Any]
    estimate_s: float | None
    folders: tuple[str, ...]
    monitor: _Monitor = field(init=False)
    view: TrainingView = field(init=False)

    def __post_init__(self) -> None:
        self.monitor = _Monitor()
        self.view = TrainingView(self.id, self.label, "queued", estimate_s=self.estimate_s, folders=self.folders)


class _Monitor:
    """The library's `fast.monitor.Monitor`: progress in, a stop flag out."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.phase, self.done, self.total = "", 0, 0
        self._lock = threading.Lock()

    def update(self, phase: str, done: int, total: int) -> None:
        with self._lock:
            self.phase, self.done, self.total = phase, done, total

    def stopped(self) -> bool:
        return self.stop.is_set()

    def snapshot(self) -> tuple[str, int, int]:
        with self._lock:
            return self.phase, self.done, self.total


class TrainingQueue:
    """Trainings in arrival order, run one at a time on a worker thread that exits when the queue is empty."""

    def __init__(self, max_queued: int = MAX_QUEUED) -> None:
        self.max_queued = max_queued
        self._waiting: list[_Job] = []
        self._running: _Job | None = None
        self._finished: OrderedDict[str, TrainingView] = OrderedDict()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._next_id = 1

    def submit(
        self,
        session: str,
        label: str,
        work: Callable[[Any], Any],
        *,
        estimate_s: float | None = None,
        folders: tuple[str, ...] = (),
    ) -> TrainingView:
        """Queue `work(monitor)` for `session`; its return value becomes the view's `result`."""
        with self._lock:
            mine = self._job_of(session)
            if mine is not None:
                raise AlreadyTraining(
                    f"your training ({mine.label}) is still {mine.view.state}: wait for it or press Stop first"
                )
            if len(self._waiting) + (self._running is not None) >= self.max_queued:
                raise QueueFull(f"{self.max_queued} trainings are already waiting or running; try again later")
            job = _Job(self._next_id, session, label, work, estimate_s, folders)
            self._next_id += 1
            self._waiting.append(job)
            self._finished.pop(session, None)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="saif-training", daemon=True)
                self._worker.start()
            return self._view(job)

    def status(self, session: str) -> TrainingView | None:
        """The session's queued or running training, else its latest finished one, else None."""
        with self._lock:
            job = self._job_of(session)
            return self._view(job) if job is not None else self._finished.get(session)

    def stop(self, session: str) -> bool:
        """Stop the session's training: a queued one is dropped, a running one stops at its next step. True if
        there was one."""
        with self._lock:
            job = self._job_of(session)
            if job is None:
                return False
            job.monitor.stop.set()
            if job in self._waiting:
                self._waiting.remove(job)
                self._remember(session, replace(job.view, state="stopped", finished=time.time()))
            return True

    def queue(self) -> list[tuple[str, str]]:
        """(label, state) of every training waiting or running, in order (what every visitor may see)."""
        with self._lock:
            jobs = ([self._running] if self._running else []) + self._waiting
            return [(j.label, "running" if j is self._running else "queued") for j in jobs]

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the queue is empty (tests, shutdown); False on timeout."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    # ---------------------------------------------------------------- inside the lock / the worker

    def _job_of(self, session: str) -> _Job | None:
        if self._running is not None and self._running.session == session:
            return self._running
        return next((j for j in self._waiting if j.session == session), None)

    def _view(self, job: _Job) -> TrainingView:
        if job is self._running:
            phase, done, total = job.monitor.snapshot()
            return replace(job.view, state="running", position=0, phase=phase, done=done, total=total)
        return replace(job.view, position=self._waiting.index(job) + (self._running is not None))

    def _remember(self, session: str, view: TrainingView) -> None:
        self._finished.pop(session, None)
        self._finished[session] = view
        while len(self._finished) > MAX_REMEMBERED:
            self._finished.popitem(last=False)

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._worker = None
                    return
                job = self._running = self._waiting.pop(0)
                job.view = replace(job.view, state="running", started=time.time())
            state: State = "done"
            result: Any = None
            error = ""
            try:
                result = job.work(job.monitor)
            except Exception as err:  # the worker must outlive any one training
                stopped = job.monitor.stopped()
                state = "stopped" if stopped else "failed"
                error = "" if stopped else f"{type(err).__name__}: {err}" if not str(err) else str(err)
            with self._lock:
                phase, done, total = job.monitor.snapshot()
                view = replace(job.view, state=state, phase=phase, done=done, total=total, result=result,
                               error=error, finished=time.time())  # fmt: skip
                self._remember(job.session, view)
                self._running = None
