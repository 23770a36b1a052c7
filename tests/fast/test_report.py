"""Tests for saif_ui.fast.report: the special-token latent table ranks the same on every machine."""

import torch

from saif_ui.fast.report import _top_special


def test_special_token_latents_rank_by_reported_value_then_id() -> None:
    """Latents 1, 3 and 4 average 2.5 on `<|im_start|>` up to float noise (as two CPUs' kernels would sum it), which
    puts the higher ids ahead in the raw values: the table reads them by id, as it prints them (3 decimals)."""
    sums = torch.tensor([1.0, 5.0, 0.0002, 5.0 + 4e-12, 5.0 + 8e-12, 6.0], dtype=torch.float64)
    store = {"<|im_start|>": torch.cat([sums, torch.tensor([2.0], dtype=torch.float64)])}  # 2 maxima summed
    store["user"] = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    table = _top_special(store, k=4)
    assert list(table) == ["<|im_start|>", "user"]
    assert table["<|im_start|>"] == [
        {"id": 5, "avg_max": 3.0},
        {"id": 1, "avg_max": 2.5},
        {"id": 3, "avg_max": 2.5},
        {"id": 4, "avg_max": 2.5},
    ]
    assert table["user"] == [{"id": 1, "avg_max": 1.0}]  # latents that never fire (or print as 0.0) are left out
    assert [row["id"] for row in _top_special(store, k=2)["<|im_start|>"]] == [5, 1]
