"""Answers as they are generated: a computation that takes a `Watch` runs in a worker thread while its caller iterates
over snapshots of the answers so far, then gets the result; a visitor's Stop ends it at the next token.

The engine reports after every token from the generating thread (`engine.watch`); a browser needs a few updates a
second, not one per token per row, so only the newest snapshot is kept and they are handed out at most every
`EVERY_S` seconds. The result cache still answers a repeat at once (no thread), and a stopped answer is never stored
in it: it is not the model's whole answer.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from saif_ui.engine.cache import ResultCache
from saif_ui.engine.watch import Watch

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")
EVERY_S = 0.1
"""Least time between two snapshots handed out: ten updates a second read as fluent streaming, and a fast engine
does not flood the browser with one message per token."""


@dataclass(frozen=True)
class Partial:
    """The answers so far, by column (a comparison's modes: `original`, `steered`, ...)."""

    texts: dict[str, str]


@dataclass(frozen=True)
class Done(Generic[T]):
    """The computation's result, after its last snapshot."""

    value: T


class _Box:
    """What the worker hands the caller: the newest snapshot not yet taken, then the result or the error."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.texts: list[str] | None = None
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None

    def put(self, texts: list[str]) -> None:
        with self.changed:
            self.texts = list(texts)
            self.changed.notify_all()

    def finish(self, value: Any = None, error: BaseException | None = None) -> None:
        with self.changed:
            self.value, self.error, self.done = value, error, True
            self.changed.notify_all()


def watched(
    compute: Callable[[Watch], T], stop: threading.Event | None = None, every: float = EVERY_S
) -> Generator[list[str] | Done[T], None, None]:
    """Run `compute(watch)` in a worker thread; yield the rows' texts as they grow (only the newest snapshot, at most
    one per `every` seconds, the first text at once), then `Done(result)`. An exception of the worker re-raises
    here; `stop` (set by a Stop, or when the caller abandons the iteration) ends the generation at its next token."""
    box = _Box()
    watch = Watch(box.put, stop if stop is not None else threading.Event())

    def work() -> None:
        try:
            box.finish(compute(watch))
        except BaseException as err:  # handed to the caller, which re-raises it
            box.finish(error=err)

    worker = threading.Thread(target=work, name="saif-stream", daemon=True)
    worker.start()
    shown: list[str] = []
    due = 0.0
    try:
        while True:
            with box.changed:
                box.changed.wait_for(lambda: box.done or box.texts is not None)
                if not box.done and any(shown):  # throttled once something shows; the first text goes out at once
                    box.changed.wait_for(lambda: box.done, timeout=max(0.0, due - time.monotonic()))
                if box.done:
                    break
                texts, box.texts = box.texts, None
            if texts is not None and texts != shown:
                shown = texts
                due = time.monotonic() + every
                yield texts
    finally:
        if not box.done:  # the caller went away (a closed page, gradio's cancel): nobody reads the rest
            watch.stop.set()
    worker.join()
    if box.error is not None:
        raise box.error
    yield Done(box.value)


@dataclass(frozen=True)
class Finished:
    """A streamed result-cache computation's outcome: its value, whether the cache answered it, and whether a Stop
    cut it (then it was not stored)."""

    value: dict[str, Any]
    cached: bool
    stopped: bool = False


class _Stopped(Exception):
    """Carries a stopped computation's result out of the result cache, which then stores nothing."""

    def __init__(self, value: Any) -> None:
        super().__init__("stopped")
        self.value = value


def cached(
    results: ResultCache,
    kind: str,
    settings: dict[str, Any],
    compute: Callable[[Watch], dict[str, Any]],
    columns: Sequence[str],
    stop: threading.Event | None = None,
    every: float = EVERY_S,
) -> Generator[Partial | Finished, None, None]:
    """`results.get_or_compute(kind, settings, ...)` streamed: a stored result comes back at once (no thread);
    otherwise `compute(watch)` runs in a worker and each snapshot of its rows comes as a `Partial` (row i under
    `columns[i]`) before the `Finished` result. A result computed while `stop` was set is returned but never
    stored."""
    found = results.peek(kind, settings)
    if found is not None:
        value, hit = results.get_or_compute(kind, settings, lambda: found)  # counted as a hit, its recency refreshed
        yield Finished(value, hit)
        return

    def run(watch: Watch) -> Finished:
        def whole() -> dict[str, Any]:
            value = compute(watch)
            if watch.stop.is_set():  # not the model's whole answer: out through the cache, which stores nothing
                raise _Stopped(value)
            return value

        try:
            return Finished(*results.get_or_compute(kind, settings, whole))
        except _Stopped as stopped:
            return Finished(stopped.value, cached=False, stopped=True)

    with contextlib.closing(watched(run, stop, every)) as updates:
        for update in updates:
            yield update.value if isinstance(update, Done) else Partial(dict(zip(columns, update, strict=False)))


def finals(updates: Generator[Partial | T, None, None], convert: Callable[[T], R]) -> Iterator[Partial | R]:
    """The updates with the final one converted (e.g. a cached result's data to its typed result); closing this
    closes `updates` (so a Stop reaches its worker)."""
    with contextlib.closing(updates):
        for update in updates:
            yield update if isinstance(update, Partial) else convert(update)


def renders(updates: Iterable[Partial | T], render: Callable[[Partial], R]) -> Generator[R, None, T]:
    """`render(partial)` of each snapshot, for a front end to yield; returns the final result (`result = yield from
    renders(...)`)."""
    final: list[T] = []
    for update in updates:
        if isinstance(update, Partial):
            yield render(update)
        else:
            final.append(update)
    return _result(final)


def _result(final: list[T]) -> T:
    if len(final) != 1:
        raise RuntimeError(f"a stream ends with one result, not {len(final)}")
    return final[0]


def whole(stream: Callable[P, Iterable[Partial | T]]) -> Callable[P, T]:
    """The non-streaming twin of a `*_stream` function or method: the same arguments, its last update (the result).
    One path computes, caches and stops both, so an API caller that does not stream gets exactly what a stream ends
    with."""

    @functools.wraps(stream)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return _result([u for u in stream(*args, **kwargs) if not isinstance(u, Partial)])

    run.__doc__ = f"The result `{stream.__name__}` ends with (no snapshots)."
    return run


class Streams:
    """The answers each visitor is streaming, by panel: a panel's Stop sets the flags of that visitor's answers there
    (gradio's `cancels` only stops the page waiting; the flag stops the generation at its next token). Unlike a long
    job (`jobs.Jobs`) a visitor may stream several answers at once; an entry lives only while its answer streams."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, str], set[threading.Event]] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def open(self, session: str, panel: str) -> Iterator[threading.Event]:
        """Register an answer of `session` in `panel` for as long as the block runs; yields its Stop flag."""
        event = threading.Event()
        key = (session, panel)
        with self._lock:
            self._running.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            with self._lock:
                events = self._running.get(key, set())
                events.discard(event)
                if not events:
                    self._running.pop(key, None)

    def stop(self, session: str, panel: str | None = None) -> bool:
        """Set the flags of the session's answers in `panel` (every panel when None); True if any was streaming."""
        with self._lock:
            events = [
                e for (s, p), found in self._running.items() if s == session and panel in (None, p) for e in found
            ]
        for event in events:
            event.set()
        return bool(events)

    def running(self) -> dict[str, list[str]]:
        """Session -> the panels it streams in (for tests and the info panel)."""
        with self._lock:
            out: dict[str, list[str]] = {}
            for session, panel in self._running:
                out.setdefault(session, []).append(panel)
            return out
