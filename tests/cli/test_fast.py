"""The FAST commands' shell: `recipe-curve --table` prints what earlier re-runs recorded, loading no model."""

from __future__ import annotations

import json

from saif_ui.cli import main


def test_recipe_curve_table_reads_the_curves_on_disk_and_runs_nothing(tmp_path, capsys) -> None:
    folder = tmp_path / "L24_sae"
    folder.mkdir()
    about = {"quality": {"shipped": {"explained_variance": 0.82}, "rerun": {"explained_variance": 0.81}}, "steps": 3}
    (folder / "recipe_curve.json").write_text(json.dumps(about))
    assert main(["recipe-curve", "--table", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "| L24_sae | 0.820 → 0.810 |" in out and "| 3 |" in out
    assert main(["recipe-curve", "--table", "--json", str(folder)]) == 0
    assert json.loads(capsys.readouterr().out) == {"L24_sae": about}
