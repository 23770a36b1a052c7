"""Shared, bounded, thread-safe helpers of the app: the result cache and the per-session Stop flags."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Cancelled(RuntimeError):
    """Raised inside a long job when its session pressed Stop."""


class ResultCache:
    """A thread-safe LRU of JSON-able results keyed by a digest of every setting that produced them."""

    def __init__(self, max_items: int = 256) -> None:
        self.max_items = max_items
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(kind: str, settings: dict[str, Any]) -> str:
        payload = json.dumps({"kind": kind, **settings}, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]

    def peek(self, kind: str, settings: dict[str, Any]) -> Any | None:
        """The cached value, or None, without counting a hit or a miss."""
        with self._lock:
            return self._items.get(self.key(kind, settings))

    def get_or_compute(self, kind: str, settings: dict[str, Any], compute: Callable[[], T]) -> tuple[T, bool]:
        """The cached value and True, or compute (outside the lock), store, and return it with False."""
        key = self.key(kind, settings)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key], True
            self.misses += 1
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value, False


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
