"""The FAST-vs-BT study on the real model, shrunk: both methods trained on the same budget and measured on both
formats, with a paired per-sequence test."""

from __future__ import annotations

import numpy as np
import pytest

from saif_ui.saif.studies import fast_vs_bt
from saif_ui.saif.studies.fast_vs_bt import Settings, paired_test

TINY = Settings(layer=3, harvest_tokens=3000, train_tokens=512 * 8, d_sae=128, k=8, batch_size=512, max_len=256,
                eval_tokens=2000)  # fmt: skip


@pytest.fixture(scope="module")
def seed0(engine, tmp_path_factory):
    old, engine.config.cache_dir = engine.config.cache_dir, tmp_path_factory.mktemp("fvb")
    try:
        yield fast_vs_bt.run_seed(engine, TINY, 0, log=lambda _: None)
    finally:
        engine.config.cache_dir = old


def test_both_methods_get_the_same_budget_and_both_reports(seed0) -> None:
    assert set(seed0["saes"]) == {"fast", "bt"}
    for method, block in seed0["saes"].items():
        m = block["manifest"]
        # BT drops the partial block at the end: it uses up to one block less than the budget.
        assert (
            m["method"] == method
            and TINY.harvest_tokens - TINY.max_len < m["harvest"]["n_tokens"] <= TINY.harvest_tokens
        )
        assert m["train"]["tokens"] == TINY.train_tokens and m["train"]["seed"] == 0
        fast_fmt, bt_fmt = block["reports"]["fast_format"], block["reports"]["bt_format"]
        assert fast_fmt["ce_sae"] is not None and bt_fmt["ce_sae"] is None  # ΔCE on chats as the model reads them
        assert TINY.eval_tokens - TINY.max_len < bt_fmt["n_tokens"] <= fast_fmt["n_tokens"] == TINY.eval_tokens
        assert 0 < fast_fmt["l0"] <= TINY.k and m["report_bt_format"] == bt_fmt


def test_the_formats_differ_and_the_paired_tests_cover_both(seed0) -> None:
    h = seed0["eval_harvests"]
    assert h["fast"]["config"]["method"] == "fast" and h["bt"]["config"]["method"] == "bt"
    for fmt in ("fast", "bt"):
        for metric in ("mse", "mse_st"):
            t = seed0["paired"][fmt][metric]
            assert 0 <= t["a_lower"] <= t["n_sequences"] and 0.0 <= t["p"] <= 1.0


def test_paired_test_drops_undefined_sequences_and_sees_a_clear_difference() -> None:
    a = np.array([1.0, 2.0, 3.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    b = a * 2
    t = paired_test(a, b)
    assert t["n_sequences"] == 9 and t["a_lower"] == 9 and t["median_ratio"] == 0.5 and t["p"] < 0.01
    assert paired_test(b, a)["a_lower"] == 0
