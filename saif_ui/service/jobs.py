"""Long jobs of the app (sweeps, ablations, grids, cards, quality, maps): at most one per visitor at a time, each with
a Stop flag that the library's loop checks at every progress report."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class Cancelled(RuntimeError):
    """Raised inside a long job when its session pressed Stop."""


class Busy(RuntimeError):
    """A visitor asked for a second long job while one of theirs is still running."""


class Jobs:
    """The running long job of each session: a visitor runs one at a time (one tab cannot queue up a dozen sweeps
    and starve everyone else), and Stop sets its flag (gradio's `cancels` only stops waiting for the event; the flag
    also stops the library's loop). An entry lives only while its job runs, so the table never outgrows the number
    of jobs running at once."""

    def __init__(self) -> None:
        self._running: dict[str, tuple[str, threading.Event]] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def run(self, session: str, what: str) -> Iterator[threading.Event]:
        """Hold the session's job slot for `what` and yield its Stop flag; `Busy` if the session already runs one."""
        event = threading.Event()
        with self._lock:
            if session in self._running:
                running = self._running[session][0]
                raise Busy(f"your {running} is still running: wait for it or press Stop before starting a {what}")
            self._running[session] = (what, event)
        try:
            yield event
        finally:
            with self._lock:
                if self._running.get(session, (None, None))[1] is event:
                    del self._running[session]

    def cancel(self, session: str) -> bool:
        """Set the flag of the session's running job; True if it had one."""
        with self._lock:
            job = self._running.get(session)
        if job is None:
            return False
        job[1].set()
        return True

    def running(self) -> dict[str, str]:
        """Session -> what it runs (for tests and the info panel)."""
        with self._lock:
            return {s: what for s, (what, _) in self._running.items()}
