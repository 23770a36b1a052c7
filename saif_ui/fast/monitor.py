"""How a long FAST job (harvest, training, report) says how far it is and learns that it should stop.

The job calls `tick(monitor, phase, done, total)` at every batch or step; a caller that passes no monitor (the CLI)
pays nothing. The app's training queue passes one whose `stopped()` turns true when the visitor presses Stop: the
job then raises `Stopped` at its next step, leaving its checkpoints, so the same run can be resumed later.
"""

from __future__ import annotations

from typing import Protocol

from saif_ui.engine.errors import SaifError


class Monitor(Protocol):
    def update(self, phase: str, done: int, total: int) -> None:
        """`done` of `total` units (tokens, steps) of `phase` are finished."""

    def stopped(self) -> bool:
        """True once the job should stop."""


class Stopped(SaifError):
    """The job was asked to stop; what it had checkpointed is kept."""


def tick(monitor: Monitor | None, phase: str, done: int, total: int) -> None:
    """Report progress, and raise `Stopped` if the monitor asks the job to stop."""
    if monitor is None:
        return
    monitor.update(phase, done, total)
    if monitor.stopped():
        raise Stopped(f"stopped during {phase} ({done:,} of {total:,})")
