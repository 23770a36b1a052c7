"""The one cache layer: ByteLRU and ResultCache (bounded in bytes, LRU, thread-safe), the atomic JSON disk store, and
the cache sizes of EngineConfig."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

from saif_ui.engine.cache import (
    ByteLRU,
    JsonStore,
    ResultCache,
    json_size,
    load_json,
    save_json,
    tensor_bytes,
)
from saif_ui.engine.config import (
    DEFAULT_GENERATION_CACHE_BYTES,
    DEFAULT_RESULT_CACHE_BYTES,
    EngineConfig,
)


def test_evicts_least_recently_used_within_budget():
    cache: ByteLRU[str] = ByteLRU(max_bytes=100)
    cache.put("a", "A", 40)
    cache.put("b", "B", 40)
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C", 40)  # 120 > 100: evicts b, the least recent
    assert cache.get("b") is None
    assert cache.get("a") == "A" and cache.get("c") == "C"
    assert cache.nbytes == 80


def test_entry_larger_than_budget_is_not_stored_and_evicts_nothing():
    cache: ByteLRU[str] = ByteLRU(max_bytes=100)
    cache.put("a", "A", 60)
    cache.put("huge", "H", 200)
    assert cache.get("huge") is None
    assert cache.get("a") == "A"


def test_replacing_a_key_updates_its_size():
    cache: ByteLRU[str] = ByteLRU(max_bytes=100)
    cache.put("a", "A", 60)
    cache.put("a", "A2", 10)
    assert cache.nbytes == 10 and cache.get("a") == "A2" and len(cache) == 1


def test_tensor_bytes():
    assert tensor_bytes(torch.zeros(3, 4), torch.zeros(2, dtype=torch.float16)) == 3 * 4 * 4 + 2 * 2


# ---------------------------------------------------------------- ResultCache


def _value(n_chars: int, tag: str = "x") -> dict[str, str]:
    return {"v": tag * n_chars}


def test_result_cache_is_bounded_in_json_bytes_and_evicts_least_recent() -> None:
    size = json_size(_value(90))
    assert size == len(json.dumps(_value(90)).encode())
    cache = ResultCache(max_bytes=3 * size)
    for i in range(10):
        cache.get_or_compute("k", {"i": i}, lambda: _value(90))
        assert cache.nbytes <= cache.max_bytes
        # touching entry 0 each round keeps it the most recent one
        if i > 0:
            assert cache.get_or_compute("k", {"i": 0}, lambda: pytest.fail("entry 0 was evicted")) == (_value(90), True)
    assert len(cache) == 3 and cache.nbytes == 3 * size
    assert cache.peek("k", {"i": 0}) is not None and cache.peek("k", {"i": 9}) is not None
    assert cache.peek("k", {"i": 8}) is not None
    assert all(cache.peek("k", {"i": i}) is None for i in range(1, 8))  # the oldest went first


def test_result_cache_evicts_in_lru_order() -> None:
    size = json_size(_value(10))
    cache = ResultCache(max_bytes=2 * size)
    cache.get_or_compute("k", {"a": 1}, lambda: _value(10))
    cache.get_or_compute("k", {"b": 1}, lambda: _value(10))
    cache.get_or_compute("k", {"a": 1}, lambda: _value(10))  # a is now the most recent
    cache.get_or_compute("k", {"c": 1}, lambda: _value(10))  # evicts b
    assert cache.peek("k", {"b": 1}) is None
    assert cache.peek("k", {"a": 1}) == _value(10) and cache.peek("k", {"c": 1}) == _value(10)


def test_result_larger_than_budget_is_returned_but_not_stored() -> None:
    cache = ResultCache(max_bytes=100)
    cache.get_or_compute("k", {"small": 1}, lambda: _value(10))
    big, cached = cache.get_or_compute("k", {"big": 1}, lambda: _value(500))
    assert big == _value(500) and cached is False
    assert cache.peek("k", {"big": 1}) is None and cache.peek("k", {"small": 1}) == _value(10)
    assert cache.nbytes == json_size(_value(10)) and len(cache) == 1
    calls = []
    cache.get_or_compute("k", {"big": 1}, lambda: calls.append(1) or _value(500))
    assert calls == [1]  # not stored, so computed again


def test_zero_budget_stores_nothing() -> None:
    cache = ResultCache(max_bytes=0)
    assert cache.get_or_compute("k", {}, lambda: 1) == (1, False)
    assert cache.get_or_compute("k", {}, lambda: 2) == (2, False)
    assert len(cache) == 0 and cache.nbytes == 0
    with pytest.raises(ValueError):
        ResultCache(max_bytes=-1)


def test_get_or_compute_computes_once_then_hits() -> None:
    cache = ResultCache()
    assert cache.max_bytes == DEFAULT_RESULT_CACHE_BYTES
    calls: list[int] = []

    def compute() -> dict[str, int]:
        calls.append(1)
        return {"answer": 42}

    assert cache.get_or_compute("evaluate", {"alpha": 1.0, "n": 2}, compute) == ({"answer": 42}, False)
    # the same settings in another order are the same key
    assert cache.get_or_compute("evaluate", {"n": 2, "alpha": 1.0}, compute) == ({"answer": 42}, True)
    assert cache.get_or_compute("steer", {"alpha": 1.0, "n": 2}, compute)[1] is False  # another kind, another key
    assert len(calls) == 2 and (cache.hits, cache.misses) == (1, 2)
    assert cache.peek("evaluate", {"alpha": 1.0, "n": 2}) == {"answer": 42}
    assert (cache.hits, cache.misses) == (1, 2)  # peek counts nothing
    assert cache.peek("evaluate", {"alpha": 2.0, "n": 2}) is None
    assert ResultCache.key("evaluate", {"a": 1}) == ResultCache.key("evaluate", {"a": 1})
    assert len(ResultCache.key("evaluate", {"a": 1})) == 24
    assert cache.stats() == {
        "entries": 2,
        "bytes": 2 * json_size({"answer": 42}),
        "max_bytes": DEFAULT_RESULT_CACHE_BYTES,
        "hits": 1,
        "misses": 2,
    }


def test_a_failed_compute_is_not_cached_and_the_next_call_computes() -> None:
    cache = ResultCache()

    def boom() -> int:
        raise KeyError("cancelled")

    with pytest.raises(KeyError):
        cache.get_or_compute("k", {}, boom)
    assert cache.get_or_compute("k", {}, lambda: 7) == (7, False)
    assert cache.get_or_compute("k", {}, boom) == (7, True)


def test_a_compute_needing_its_own_result_is_an_error_not_a_hang() -> None:
    cache = ResultCache()

    def cyclic() -> int:
        return cache.get_or_compute("k", {}, cyclic)[0] + 1

    with pytest.raises(RuntimeError, match="cycle"):
        cache.get_or_compute("k", {}, cyclic)
    assert cache.get_or_compute("k", {}, lambda: 1) == (1, False)  # the failed key is free again


def test_threads_computing_the_same_key_share_one_value() -> None:
    cache = ResultCache()
    n_threads = 8
    barrier = threading.Barrier(n_threads)
    counter_lock = threading.Lock()
    computed: list[int] = []
    results: list[tuple[object, bool]] = []
    errors: list[BaseException] = []

    def compute() -> dict[str, int]:
        with counter_lock:
            computed.append(1)
            return {"run": len(computed)}  # a different value per run: reuse is visible

    def worker() -> None:
        try:
            barrier.wait()
            results.append(cache.get_or_compute("k", {"same": True}, compute))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(computed) == 1
    assert [v for v, _ in results] == [{"run": 1}] * n_threads
    assert sorted(c for _, c in results) == [False] + [True] * (n_threads - 1)
    assert (cache.hits, cache.misses) == (n_threads - 1, 1)


def test_a_thread_waits_for_the_one_computing_its_key() -> None:
    """B asks for the key while A is inside its compute: B must not compute, and gets A's value."""
    cache = ResultCache()
    started, release = threading.Event(), threading.Event()
    out: dict[str, tuple[object, bool]] = {}

    def slow() -> str:
        started.set()
        release.wait()
        return "from A"

    a = threading.Thread(target=lambda: out.__setitem__("a", cache.get_or_compute("k", {}, slow)))
    a.start()
    started.wait()
    b = threading.Thread(
        target=lambda: out.__setitem__("b", cache.get_or_compute("k", {}, lambda: "from B (should not run)"))
    )
    b.start()
    release.set()
    a.join()
    b.join()
    assert out == {"a": ("from A", False), "b": ("from A", True)}


def test_threads_on_many_keys_keep_the_byte_bound() -> None:
    size = json_size(_value(50))
    cache = ResultCache(max_bytes=5 * size)
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for i in range(40):
                value, _ = cache.get_or_compute("k", {"i": (i + offset) % 13}, lambda: _value(50))
                assert value == _value(50)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.nbytes <= cache.max_bytes and len(cache) <= 5
    assert cache.nbytes == len(cache) * size
    assert cache.hits + cache.misses == 6 * 40


def test_json_size_of_a_value_json_cannot_encode_is_not_zero() -> None:
    assert json_size({(1, 2): "tuple keys"}) > len("tuple keys")


# ---------------------------------------------------------------- JSON on disk


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp"))


def test_save_json_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "doc.json"
    save_json(path, {"a": [1, 2.5, "é"]})
    assert load_json(path) == {"a": [1, 2.5, "é"]}
    save_json(path, {"a": "replaced"})
    assert load_json(path) == {"a": "replaced"}
    assert [p.name for p in path.parent.iterdir()] == ["doc.json"]
    # a value JSON cannot encode raises before anything is touched: the old file stays, no temp file is left
    with pytest.raises(TypeError):
        save_json(path, {"a": object()})
    assert load_json(path) == {"a": "replaced"} and _leftovers(path.parent) == []


def test_load_json_treats_missing_partial_and_garbage_files_as_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    assert load_json(path) is None
    save_json(path, {"rows": list(range(100))})
    full = path.read_bytes()
    path.write_bytes(full[: len(full) // 2])  # a write cut off half way
    assert load_json(path) is None
    path.write_bytes(b"\xff\xfe\x00 not json")
    assert load_json(path) is None
    path.write_bytes(b"")
    assert load_json(path) is None
    assert load_json(tmp_path) is None  # a folder


def test_json_store_round_trip_and_recompute_of_damaged_files(tmp_path: Path) -> None:
    store = JsonStore(tmp_path / "studies")
    settings = {"model": "m", "sae": "abc", "cfg": {"alphas": [1.0, 2.0]}}
    calls: list[int] = []

    def run() -> dict[str, object]:
        calls.append(1)
        return {"score": 0.5, "rows": [1, 2]}

    assert store.get_or_compute("layer", settings, run) == ({"score": 0.5, "rows": [1, 2]}, False)
    assert store.get_or_compute("layer", settings, run) == ({"score": 0.5, "rows": [1, 2]}, True)
    assert len(calls) == 1
    path = store.path("layer", settings)
    assert path.is_file() and path.name.startswith("layer-")
    assert [p.name for p in store.root.iterdir()] == [path.name]  # no temp files
    assert store.get("layer", {**settings, "sae": "other"}) is None  # another key, another file

    full = path.read_bytes()
    path.write_bytes(full[:-7])  # truncated
    assert store.get("layer", settings) is None
    assert store.get_or_compute("layer", settings, run)[1] is False and len(calls) == 2
    assert store.get("layer", settings) == {"score": 0.5, "rows": [1, 2]}  # rewritten whole

    path.write_text("garbage", encoding="utf-8")
    assert store.get("layer", settings) is None
    # a valid document under the wrong name (copied, renamed) is a miss too
    other = store.put("layer", {"different": True}, {"score": 9})
    path.write_bytes(other.read_bytes())
    assert store.get("layer", settings) is None
    assert _leftovers(store.root) == []


def test_json_store_disabled_recomputes_but_still_writes(tmp_path: Path) -> None:
    JsonStore(tmp_path).put("s", {"k": 1}, {"old": True})
    store = JsonStore(tmp_path, enabled=False)
    assert store.get("s", {"k": 1}) is None
    assert store.get_or_compute("s", {"k": 1}, lambda: {"new": True}) == ({"new": True}, False)
    assert JsonStore(tmp_path).get("s", {"k": 1}) == {"new": True}


def test_json_store_keeps_a_null_value(tmp_path: Path) -> None:
    store = JsonStore(tmp_path)
    store.put("s", {}, None)
    assert store.get_or_compute("s", {}, lambda: pytest.fail("recomputed")) == (None, True)


# ---------------------------------------------------------------- config


def test_config_cache_sizes_default_and_validate() -> None:
    cfg = EngineConfig(saes=[])
    assert cfg.generation_cache_bytes == DEFAULT_GENERATION_CACHE_BYTES == 16 * 2**20
    assert cfg.result_cache_bytes == DEFAULT_RESULT_CACHE_BYTES == 64 * 2**20
    assert EngineConfig(saes=[], encode_cache_bytes=0, generation_cache_bytes=0, result_cache_bytes=0)
    for name in ("encode_cache_bytes", "generation_cache_bytes", "result_cache_bytes"):
        with pytest.raises(ValueError, match=name):
            EngineConfig(saes=[], **{name: -1})
        with pytest.raises(ValueError, match=name):
            EngineConfig(saes=[], **{name: 1.5})


def test_config_cache_sizes_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAIF_ENCODE_CACHE_MB", "8")
    monkeypatch.setenv("SAIF_GENERATION_CACHE_MB", "0")
    monkeypatch.setenv("SAIF_RESULT_CACHE_MB", "0.5")
    cfg = EngineConfig.from_env(saes=[])
    assert (cfg.encode_cache_bytes, cfg.generation_cache_bytes, cfg.result_cache_bytes) == (8 << 20, 0, 1 << 19)
    # a keyword override wins, and the variable it overrides is not parsed
    monkeypatch.setenv("SAIF_RESULT_CACHE_MB", "lots")
    assert EngineConfig.from_env(saes=[], result_cache_bytes=123).result_cache_bytes == 123
    monkeypatch.setenv("SAIF_GENERATION_CACHE_MB", "")
    with pytest.raises(ValueError, match="SAIF_RESULT_CACHE_MB"):
        EngineConfig.from_env(saes=[])
    for bad in ("-1", "nan", "inf", "12MB"):
        monkeypatch.setenv("SAIF_RESULT_CACHE_MB", bad)
        with pytest.raises(ValueError, match="SAIF_RESULT_CACHE_MB"):
            EngineConfig.from_env(saes=[])
    monkeypatch.delenv("SAIF_RESULT_CACHE_MB")
    monkeypatch.delenv("SAIF_ENCODE_CACHE_MB")
    cfg = EngineConfig.from_env(saes=[])  # unset or empty: the defaults
    assert cfg.result_cache_bytes == DEFAULT_RESULT_CACHE_BYTES
    assert cfg.generation_cache_bytes == DEFAULT_GENERATION_CACHE_BYTES


def test_engine_builds_its_caches_from_config_and_reports_them(engine) -> None:
    from saif_ui.engine import Engine

    cfg = EngineConfig(saes=[], encode_cache_bytes=1000, generation_cache_bytes=2000, result_cache_bytes=3000)
    small = Engine(engine.loaded, cfg)  # shares the loaded model; only the caches are new
    assert isinstance(small.results, ResultCache)
    assert (small.cache.max_bytes, small.generations.max_bytes, small.results.max_bytes) == (1000, 2000, 3000)
    small.results.get_or_compute("k", {}, lambda: {"x": 1})
    info = small.info()
    assert info["encode_cache"]["max_bytes"] == 1000
    assert info["generation_cache"]["max_bytes"] == 2000
    assert info["result_cache"] == {
        "entries": 1,
        "bytes": json_size({"x": 1}),
        "max_bytes": 3000,
        "hits": 0,
        "misses": 1,
    }
