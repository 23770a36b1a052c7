"""Every cache of the project in one place.

In memory, both bounded in bytes and thread-safe:
- `ByteLRU`: tensors and generations under hashable keys (the engine's encodings and greedy generations).
- `ResultCache`: JSON-able results keyed by a digest of every setting that produced them (the one result cache an
  app shares, owned by the `Engine`); a value's size is its JSON encoding's, measured once on insert.

On disk, both atomic (written to a temporary file in the same folder, then `os.replace`d) and verified on read (a
missing, partial or foreign file is a miss, never an error):
- `save_npz` / `load_npz`: arrays plus JSON metadata (discovery statistics, UMAP maps, latent cards).
- `save_json` / `load_json` and `JsonStore`: JSON documents in a folder, one per settings digest (the studies).

Keys: `digest` hashes a settings dict, `sae_fingerprint` an SAE's weights and hook. A key must contain everything
that changes a result (model, SAE source and fingerprint, contents/catalogue/checker versions, settings).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from saif_ui.engine.config import DEFAULT_RESULT_CACHE_BYTES
from saif_ui.engine.errors import SaifError
from saif_ui.engine.sae import LoadedSAE

V = TypeVar("V")
T = TypeVar("T")


def tensor_bytes(*tensors: torch.Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


class ByteLRU(Generic[V]):
    """Keeps the most recently used entries whose sizes add up to at most `max_bytes`.

    An entry larger than the whole budget is not stored (it would evict everything and still not fit).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def peek(self, key: Hashable) -> V | None:
        """The value, or None, without counting a hit or a miss or refreshing its recency."""
        with self._lock:
            item = self._items.get(key)
            return None if item is None else item[0]

    def put(self, key: Hashable, value: V, n_bytes: int) -> None:
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            if n_bytes > self.max_bytes:
                return
            self._items[key] = (value, n_bytes)
            self._bytes += n_bytes
            while self._bytes > self.max_bytes:
                _, (_, size) = self._items.popitem(last=False)
                self._bytes -= size

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self),
            "bytes": self._bytes,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
        }


def json_size(value: Any) -> int:
    """Bytes of `value`'s UTF-8 JSON encoding: the size a `ResultCache` charges for it. A value JSON cannot encode
    is charged its pickle's size (or, failing that, `sys.getsizeof`), never less than it really holds."""
    try:
        return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError):
        try:
            return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:
            return sys.getsizeof(value)


@dataclass
class _Pending:
    """A result one thread is computing; others asking for the same key wait on `done`."""

    owner: int
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    value: Any = None


class ResultCache:
    """A thread-safe LRU of JSON-able results keyed by a digest of every setting that produced them, bounded in bytes.

    A value's size is the length of its JSON encoding (`json_size`), measured once when it is stored; the least
    recently used entries are evicted until the total is at most `max_bytes`, and a value larger than the whole budget
    is returned but not stored (`max_bytes=0` stores nothing). `get_or_compute` runs `compute` outside the lock, and
    at most one thread at a time computes a given key: the others wait and return its value, so every caller sees the
    same one (if the computing thread raises, a waiting one computes instead).
    """

    def __init__(self, max_bytes: int = DEFAULT_RESULT_CACHE_BYTES) -> None:
        if max_bytes < 0:
            raise SaifError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self._lru: ByteLRU[Any] = ByteLRU(max_bytes)
        """The stored values; this class adds the keys, one computation per key and its own hit counts."""
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(kind: str, settings: dict[str, Any]) -> str:
        """24-hex digest of the kind and settings (order of keys does not matter)."""
        payload = json.dumps({"kind": kind, **settings}, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]

    def peek(self, kind: str, settings: dict[str, Any]) -> Any | None:
        """The cached value, or None, without counting a hit or a miss or refreshing its recency."""
        return self._lru.peek(self.key(kind, settings))

    def get_or_compute(self, kind: str, settings: dict[str, Any], compute: Callable[[], T]) -> tuple[T, bool]:
        """The cached value and True, or compute (outside the lock), store, and return it with False.

        A caller that waited for another thread's computation of the same key gets that value and True.
        """
        key = self.key(kind, settings)
        me = threading.get_ident()
        while True:
            with self._lock:
                found = self._lru.get(key)
                if found is not None:
                    self.hits += 1
                    return found, True
                pending = self._pending.get(key)
                if pending is None:
                    pending = self._pending[key] = _Pending(owner=me)
                    self.misses += 1
                    break
                if pending.owner == me:
                    raise RuntimeError(f"computing the {kind!r} result needs that same result (a cycle)")
            pending.done.wait()
            with self._lock:
                if pending.ok:
                    self.hits += 1
                    return pending.value, True
            # the computing thread failed (e.g. its session pressed Stop): try again, computing it here if need be
        try:
            value = compute()
            size = json_size(value)
        except BaseException:
            with self._lock:
                del self._pending[key]
            pending.done.set()
            raise
        with self._lock:
            pending.value, pending.ok = value, True
            del self._pending[key]
            self._lru.put(key, value, size)  # evicts the least recently used down to the budget
        pending.done.set()
        return value, False

    def clear(self) -> None:
        self._lru.clear()

    @property
    def nbytes(self) -> int:
        return self._lru.nbytes

    def __len__(self) -> int:
        return len(self._lru)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._lru.stats(), "hits": self.hits, "misses": self.misses}


def digest(settings: dict[str, Any]) -> str:
    """16-hex key of a JSON-able settings dict (order of keys does not matter)."""
    payload = json.dumps(settings, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def sae_fingerprint(sae: LoadedSAE) -> str:
    """16-hex hash of an SAE's weights and hook: two SAEs with the same name but other weights never share a cache
    entry (a retrained SAE in the same folder invalidates its old results)."""
    h = hashlib.sha256(f"{sae.hook_name}|{sae.architecture}".encode())
    for name, tensor in sorted(sae.sae.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def sae_identity(sae: LoadedSAE) -> dict[str, str]:
    """What names an SAE in a cache key: where it was loaded from and the fingerprint of its weights."""
    return {"sae_source": sae.source, "sae": sae_fingerprint(sae)}


def save_npz(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write arrays and a JSON `meta` to `path` atomically: a reader sees the old file or the complete new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            payload = {**arrays, "__meta__": np.array(json.dumps(meta, ensure_ascii=False, default=str))}
            np.savez(f, **payload)  # type: ignore[arg-type]
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """Arrays and meta saved by `save_npz`, or None if the file is missing or unreadable (then recompute)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if k != "__meta__"}
            meta = json.loads(str(data["__meta__"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return arrays, meta


def save_json(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` atomically: a reader sees the old file or the complete new one. A value JSON
    cannot encode raises before anything is written."""
    payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


STALE_TEMP_SECONDS = 3600
"""A temporary file this old was left by a process that died mid-write (a write takes seconds)."""


def remove_stale_temps(root: Path, max_age_s: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the `.tmp-*` files (and `.…tmp` folders) that a killed process left under `root`: they were never read
    (readers open only final names), but they hold disk. Returns what was removed."""
    if not root.is_dir():
        return []
    cutoff = time.time() - max_age_s
    removed = []
    for path in root.rglob(".*tmp*"):
        try:
            if path.lstat().st_mtime > cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        except OSError:
            continue
    return removed


def load_json(path: Path) -> Any | None:
    """The JSON value in `path`, or None if the file is missing, unreadable, partial or not JSON (then recompute)."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


class JsonStore:
    """JSON documents in one folder, one per (name, settings digest), written atomically.

    Each file holds `{"key", "settings", "value"}`; a reader takes the value only if the key matches, so a partial,
    garbage, renamed or hand-edited file is a miss and is recomputed. With `enabled=False` nothing is read (every
    `get_or_compute` recomputes) but results are still written.
    """

    def __init__(self, root: Path, enabled: bool = True) -> None:
        self.root = Path(root)
        self.enabled = enabled

    def path(self, name: str, settings: dict[str, Any]) -> Path:
        return self.root / f"{name}-{digest(settings)}.json"

    def _lookup(self, name: str, settings: dict[str, Any]) -> tuple[bool, Any]:
        if not self.enabled:
            return False, None
        doc = load_json(self.path(name, settings))
        if not isinstance(doc, dict) or doc.get("key") != digest(settings) or "value" not in doc:
            return False, None
        return True, doc["value"]

    def get(self, name: str, settings: dict[str, Any]) -> Any | None:
        """The stored value, or None (also when the store is disabled)."""
        return self._lookup(name, settings)[1]

    def put(self, name: str, settings: dict[str, Any], value: Any) -> Path:
        """Store `value` (it must be JSON-able: it raises before anything is written otherwise)."""
        path = self.path(name, settings)
        readable = json.loads(json.dumps(settings, sort_keys=True, ensure_ascii=False, default=str))
        save_json(path, {"key": digest(settings), "settings": readable, "value": value})
        return path

    def get_or_compute(self, name: str, settings: dict[str, Any], compute: Callable[[], T]) -> tuple[T, bool]:
        """The stored value and True, or compute, store and return it with False."""
        hit, found = self._lookup(name, settings)
        if hit:
            return found, True
        value = compute()
        self.put(name, settings, value)
        return value, False
