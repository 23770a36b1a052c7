"""The Steering tab's layout helpers (`ui.steering.tab`): strengths from the sliders, then the table."""

from __future__ import annotations

import pytest

from saif_ui.ui.steering.tab import STRENGTH_SLIDERS, collect_strengths, strength_updates


def test_strengths_come_from_the_sliders_then_the_table() -> None:
    ids = list(range(100, 112))  # 12 latents: 8 sliders and 4 table rows
    sliders = [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -2.0]
    table = [[108, 0.25], [111, 3.0]]  # rows may be missing (then 1) or in any order
    got = collect_strengths([str(i) for i in ids], *sliders, table)
    assert got == [*sliders, 0.25, 1.0, 1.0, 3.0]
    assert collect_strengths(["5", "6"], 0.5, 2.0, *[1.0] * (STRENGTH_SLIDERS - 2), None) == [0.5, 2.0]
    with pytest.raises(ValueError, match="latent id and a number"):
        collect_strengths([str(i) for i in ids], *sliders, [["x", 1]])
    values, shown, *slider_updates, more = strength_updates(ids, {100: 0.5, 111: 3.0}, {100: "le"})
    assert values == [0.5, *[1.0] * 10, 3.0] and shown == ids
    assert slider_updates[0]["label"] == "#100 le" and slider_updates[0]["value"] == 0.5
    assert all(u["visible"] for u in slider_updates) and more["visible"] is True
    assert more["value"].values.tolist() == [[108, 1.0], [109, 1.0], [110, 1.0], [111, 3.0]]
    few = strength_updates([1, 2], {}, {})
    assert [u["visible"] for u in few[2:-1]] == [True, True] + [False] * (STRENGTH_SLIDERS - 2)
    assert few[-1]["visible"] is False
