"""Markdown quality tables."""

from saif_ui.fast.summary import quality_table, rerun_table


def test_quality_table_rows_and_missing_values():
    table = quality_table({"A": {"log2_mse": 1.23456, "explained_variance": 0.8, "l0": 64.0}, "B": {}})
    lines = table.splitlines()
    assert lines[0].startswith("| SAE | log2 MSE | log2 MSE_st | EV | L0 |")
    assert lines[2].startswith("| A | 1.235 | – | 0.800 | 64.0 |")
    assert lines[3].startswith("| B | – | – |") and len(lines) == 4


def test_rerun_table_shows_each_metric_shipped_then_rerun():
    about = {
        "quality": {"shipped": {"explained_variance": 0.82, "l0": 64.0}, "rerun": {"explained_variance": 0.8149}},
        "steps": 366,
        "seconds": 451.7,
        "weights_identical": False,
        "max_abs_weight_difference": {"W_dec": 0.25, "b_dec": 0.5},
    }
    lines = rerun_table({"L24": about, "empty": {}}).splitlines()
    assert lines[0].startswith("| SAE | EV shipped → re-run | log2 MSE shipped → re-run |")
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|")
    assert lines[2].startswith("| L24 | 0.820 → 0.815 | – → – |")
    assert "| 64.0 → – |" in lines[2] and lines[2].endswith("| 366 | 452 s | no | 0.5000 |")
    assert lines[3].endswith("| – | – | no | – |") and len(lines) == 4
