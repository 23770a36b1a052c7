"""Long jobs of the app (sweeps): the Stop flag of each session, checked by the library's loop at each progress
report."""

from __future__ import annotations

import threading
from typing import TypeVar

T = TypeVar("T")


class Cancelled(RuntimeError):
    """Raised inside a long job when its session pressed Stop."""


class CancelFlags:
    """One Stop flag per session: a long job takes a fresh flag when it starts and checks it at each progress report
    (gradio's `cancels` only stops waiting for an event; the flag also stops the library's loop)."""

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def token(self, session: str) -> threading.Event:
        """A fresh (unset) flag for the session's next long job."""
        event = threading.Event()
        with self._lock:
            self._flags[session] = event
        return event

    def cancel(self, session: str) -> bool:
        """Set the session's flag; True if it had a job."""
        with self._lock:
            event = self._flags.get(session)
        if event is None:
            return False
        event.set()
        return True
