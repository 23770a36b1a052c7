"""The SAE shelf: what a visitor attaches is theirs alone, capped per session and in total, detached (files and all)
when nobody holds it; an upload is validated before a byte is copied; offline, a registry id fails at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from saif_ui.engine.cache import ResultCache
from saif_ui.engine.errors import SaifError
from saif_ui.engine.sae import SAELoadError
from saif_ui.service.shelf import SaeShelf, ShelfConfig
from tests.conftest import random_sae


@pytest.fixture
def shelf(engine, tmp_path, monkeypatch, rand_sae):
    """A shelf over the real engine with one shared SAE (`rand2`) and a private cache folder; every SAE a test
    attaches is detached afterwards."""
    monkeypatch.setattr(engine.config, "cache_dir", tmp_path / "cache")
    before = set(engine.saes)
    made = SaeShelf(engine, ResultCache(2**20), ShelfConfig(per_session=2, total=3))
    yield made
    for name in set(engine.saes) - before:
        engine.remove_sae(name)


def upload(tmp_path: Path, seed: int, layer: int = 3) -> list[str]:
    """The two files of a random SAE as a browser would upload them."""
    folder = tmp_path / f"up{seed}"
    random_sae(576, 16, f"blocks.{layer}.hook_resid_post", seed=seed).save_model(str(folder))
    return [str(folder / "cfg.json"), str(folder / "sae_weights.safetensors")]


def uploads_dir(shelf: SaeShelf) -> Path:
    return shelf.engine.config.cache_dir / "uploads"


def test_an_upload_is_visible_only_to_its_session(shelf, rand_sae, tmp_path) -> None:
    name = shelf.add_uploaded_sae(upload(tmp_path, 1), "alice")
    assert name.startswith("upload_")
    assert name in shelf.visible("alice") and rand_sae in shelf.visible("alice")
    assert name not in shelf.visible("bob") and rand_sae in shelf.visible("bob")
    assert name not in shelf.visible(None)  # the page as first built: shared SAEs only


def test_the_same_file_from_two_sessions_is_one_sae_until_both_leave(shelf, tmp_path) -> None:
    files = upload(tmp_path, 1)
    name = shelf.add_uploaded_sae(files, "alice")
    assert shelf.add_uploaded_sae(files, "bob") == name
    assert shelf.attached_by_visitors() == {name: ["alice", "bob"]}
    assert shelf.release("alice") == []
    assert name in shelf.engine.saes and name in shelf.visible("bob")
    assert shelf.release("bob") == [name]
    assert name not in shelf.engine.saes
    assert not (uploads_dir(shelf) / name).exists()  # the managed copy goes with it


def test_caps_per_session_and_in_total_evict_the_oldest(shelf, tmp_path) -> None:
    a1 = shelf.add_uploaded_sae(upload(tmp_path, 1), "alice")
    a2 = shelf.add_uploaded_sae(upload(tmp_path, 2), "alice")
    a3 = shelf.add_uploaded_sae(upload(tmp_path, 3), "alice")  # per_session=2: alice's oldest goes
    assert a1 not in shelf.engine.saes and {a2, a3} <= set(shelf.engine.saes)
    b1 = shelf.add_uploaded_sae(upload(tmp_path, 4), "bob")
    b2 = shelf.add_uploaded_sae(upload(tmp_path, 5), "bob")  # total=3: the least recently attached (a2) goes
    assert a2 not in shelf.engine.saes
    assert set(shelf.attached_by_visitors()) == {a3, b1, b2}
    assert len([n for n in shelf.engine.saes if n.startswith("upload_")]) == 3
    assert sorted(p.name for p in uploads_dir(shelf).iterdir()) == sorted([a3, b1, b2])


def test_an_operator_can_share_visitors_saes(engine, tmp_path, rand_sae) -> None:
    shared = SaeShelf(engine, ResultCache(2**20), ShelfConfig(shared_uploads=True))
    engine.config.cache_dir = tmp_path / "cache"
    name = shared.add_uploaded_sae(upload(tmp_path, 7), "alice")
    try:
        assert name in shared.visible("bob")
    finally:
        shared.release("alice")
    assert name not in engine.saes


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda cfg, w: cfg.write_text('{"d_in": null, "d_sae": 16}'), "'d_in' in cfg.json must be"),
        (lambda cfg, w: w.write_bytes(b"\x80\x04K\x01."), "not a safetensors file"),
        (lambda cfg, w: cfg.write_text(cfg.read_text().replace("blocks.3.", "blocks.99.")), "layers 0..29"),
    ],
)
def test_a_bad_upload_copies_nothing(shelf, tmp_path, corrupt, message) -> None:
    files = upload(tmp_path, 1)
    corrupt(Path(files[0]), Path(files[1]))
    with pytest.raises(SAELoadError, match=message):
        shelf.add_uploaded_sae(files, "alice")
    assert not uploads_dir(shelf).exists() or not any(uploads_dir(shelf).iterdir())
    assert shelf.attached_by_visitors() == {}


def test_upload_file_names_never_reach_the_disk(shelf, tmp_path) -> None:
    files = upload(tmp_path, 1)
    odd = tmp_path / "x" / ".." / "weird"
    odd.mkdir(parents=True)
    renamed = [odd / "..%2fcfg.json", odd / "..%2f..%2fsae.safetensors"]
    for src, dst in zip(files, renamed, strict=True):
        Path(src).rename(dst)
    name = shelf.add_uploaded_sae([str(p) for p in renamed], "alice")
    assert sorted(p.name for p in (uploads_dir(shelf) / name).iterdir()) == ["cfg.json", "sae_weights.safetensors"]
    assert [p.name for p in uploads_dir(shelf).iterdir()] == [name]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([], "exactly two files"),
        (["a.json"], "exactly two files"),
        (["a.json", "b.json"], "exactly two files"),
        (["a.json", "b.safetensors", "c.txt"], "exactly two files"),
        (["/nonexistent/a.json", "/nonexistent/b.safetensors"], "could not be read"),
    ],
)
def test_wrong_file_sets(shelf, files, message) -> None:
    with pytest.raises(SaifError, match=message):
        shelf.add_uploaded_sae(files, "alice")


def test_an_oversized_upload_is_refused_before_it_is_read(engine, tmp_path, rand_sae) -> None:
    small = SaeShelf(engine, ResultCache(2**20), ShelfConfig(max_upload_bytes=1000))
    with pytest.raises(SaifError, match="the limit is 0 MB"):
        small.add_uploaded_sae(upload(tmp_path, 1), "alice")


@pytest.mark.parametrize("source", ["", "   ", "nope", "../etc/passwd", "/abs/path", "a/\x00b", "a/" + "b" * 400])
def test_bad_registry_ids(shelf, source) -> None:
    with pytest.raises(SaifError, match="release/sae_id"):
        shelf.add_registry_sae(source, "alice")


def test_offline_a_registry_id_fails_at_once_with_a_clear_message(shelf, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(SaifError, match="runs offline"):
        shelf.add_registry_sae("gemma-scope-2-270m-it-res/layer_12_width_16k_l0_medium", "alice")
    assert time.perf_counter() - start < 1.0


def test_shelf_settings_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("SAIF_SAES_PER_SESSION", "3")
    monkeypatch.setenv("SAIF_VISITOR_SAES", "9")
    monkeypatch.setenv("SAIF_SHARE_UPLOADS", "1")
    assert ShelfConfig.from_env() == ShelfConfig(per_session=3, total=9, shared_uploads=True)
    monkeypatch.setenv("SAIF_VISITOR_SAES", "many")
    with pytest.raises(SaifError, match="SAIF_VISITOR_SAES must be a whole number"):
        ShelfConfig.from_env()
    monkeypatch.setenv("SAIF_VISITOR_SAES", "1")
    with pytest.raises(SaifError, match="total >= per_session"):
        ShelfConfig.from_env()
