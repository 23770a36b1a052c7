"""Library results as table rows (`ui.tables`): ranked latents, the special-token grid, SAE quality."""

from __future__ import annotations

from saif_ui.saif.steering.special import SpecialGrid
from saif_ui.ui.tables import grid_table, latent_table, quality_table
from tests.service.test_session import RESULT


def test_latent_table_ranks_rows_and_keeps_flagged_apart() -> None:
    table = latent_table(RESULT)
    assert [r[:2] for r in table.rows] == [[1, 7], [2, 3]]
    assert latent_table(RESULT, flagged=True).rows[0][1] == 9
    assert latent_table(None).rows == []
    assert table.csv().splitlines()[0].startswith("rank,latent,label (top contexts),score")


def test_grid_and_quality_tables() -> None:
    grid = SpecialGrid.from_dict(
        {
            "sae": "L24",
            "layer": 24,
            "latent": 9,
            "rows": [{"alpha": 0.0, "text": "a", "finished": True, "strict": False, "loose": True}],
        }
    )
    assert grid_table(grid).headers == ["α", "answer", "strict", "loose"] and grid_table(None).rows == []
    assert grid_table(grid).rows == [[0.0, "a", False, True]] and SpecialGrid.from_dict(grid.to_dict()) == grid
    q = quality_table({"A": {"log2_mse": 1.23456, "l0": 64.0}, "B": None})
    assert q.rows[0][:2] == ["A", 1.235] and q.rows[1][1] == "–"
