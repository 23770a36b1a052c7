"""Plotly figures of results (`ui.figures`, and the sweep plot and table of `ui.tables`): pure functions of plain data
(a latent's figures: test_latent_figures.py)."""

from __future__ import annotations

import pytest

from saif_ui.saif.steering.evaluate import Evaluation
from saif_ui.ui import figures
from saif_ui.ui.tables import sweep_plot, sweep_table
from tests.ui.samples import SPEC, output


def test_sweep_and_empty_figures() -> None:
    def block(k: int, n: int) -> dict:  # k of n outputs follow the instruction
        return {"outputs": [output(f"t{i}", i < k) for i in range(n)]}

    ev = Evaluation.from_dict(
        {
            "instruction": "french",
            "checker": "french",
            "layer": 24,
            "spec": SPEC,
            "contents": ["a", "b", "c", "d"],
            "config": {"alphas": [0.0, 1.0], "decoding": {"max_new_tokens": 8}},
            "results": [{"alpha": 0.0, **block(0, 4)}, {"alpha": 1.0, **block(3, 4)}],
            "baselines": {"original": block(0, 4), "prompted": block(3, 4)},
        }
    )
    assert ev.summary(1.0).fluent_strict == 0.75 and ev.baseline("prompted").n == 4
    sweep = sweep_plot(ev)
    assert [t.name for t in sweep.data][:3] == ["steered fluent strict", "steered strict", "steered loose"]
    assert list(sweep.data[0].y) == [0.0, 0.75] and [s.y0 for s in sweep.layout.shapes] == [0.0, 0.75]
    assert sweep_table(ev).rows[-1][0] == "prompted" and len(sweep_table(ev).rows) == 4
    assert sweep_table(ev).rows[1][:3] == [1.0, 0.75, 0.75]
    # n, the 95% Wilson interval and McNemar's exact p against each baseline, on the same 4 contents
    assert sweep_table(ev).rows[1][6:8] == [4, "[30, 95]%"]
    assert ev.paired(1.0, "original").only_a == 3 and sweep_table(ev).rows[1][8:] == [0.25, 1.0]
    assert list(sweep.data[0].error_y.array)[1] == pytest.approx(ev.summary(1.0).ci(0.75)[1] - 0.75)
    assert Evaluation.from_dict(ev.to_dict()).to_dict() == ev.to_dict()
    assert sweep_plot(None).layout.annotations[0].text.startswith("Run a sweep")
    assert figures.empty_figure("hint").layout.annotations[0].text == "hint"


def test_the_distil_figure_draws_the_loss_and_each_check_as_its_rate() -> None:
    assert figures.distil_figure([], []).layout.annotations[0].text.startswith("The loss appears here")
    history = [{"step": 1, "loss": 0.5, "norm": 3.0}, {"step": 2, "loss": 0.25, "norm": 5.0}]
    checks = [{"step": 2, "n": 4, "successes": 1, "fluent": 3, "strict": 3, "loss": 0.25}]
    loss, success, fluent = figures.distil_figure(history, checks).data
    assert list(loss.x) == [1, 2] and list(loss.y) == [0.5, 0.25]
    assert list(success.y) == [0.25] and list(success.text) == ["1/4"] and list(fluent.y) == [0.75]


def test_training_curves_draw_one_panel_per_quantity_on_a_shared_step_axis() -> None:
    names = ["loss", "mse", "l0", "explained_variance", "dead_fraction", "lr"]
    curves = {n: [(0.0, 10.0**-i), (100.0, 2 * 10.0**-i)] for i, n in enumerate(names)}
    fig = figures.training_curves(curves, "training")
    assert [t.name for t in fig.data] == names
    assert len({t.yaxis for t in fig.data}) == 6  # each its own y axis, so a small quantity is not a flat line
    assert [a.text for a in fig.layout.annotations] == names
    assert fig.layout.xaxis4.title.text == "step" and fig.layout.xaxis.matches == "x4"  # the step axis is shared
    assert "No training curve" in figures.training_curves({}).layout.annotations[0].text
