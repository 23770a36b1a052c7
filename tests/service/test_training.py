"""The backend's training part: the form's defaults, one or two pipeline runs per request, their estimate, and a bad
request refused before anything is queued."""

from __future__ import annotations

from dataclasses import replace

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.service import served
from saif_ui.service.trainings import TrainingView


def test_the_defaults_are_the_served_ones_and_side_by_side_trains_both_methods(backend) -> None:
    form = backend.training.defaults()
    assert (form.layer, form.method, form.d_sae, form.tokens) == (8, "fast", 1024, served.DEFAULTS.train.tokens)
    [one] = backend.training.configs(form, False)
    assert one == served.configure(8, "fast", "topk", 1024, form.sparsity, form.tokens, form.seed, 30)
    assert [c.harvest.method for c in backend.training.configs(form, True)] == ["fast", "bt"]
    single, both = backend.training.estimate(form, False), backend.training.estimate(form, True)
    assert 0 < single < both


def test_a_bad_request_is_refused_before_it_is_queued(backend) -> None:
    form = replace(backend.training.defaults(), d_sae=10)
    with pytest.raises(SaifError, match=r"d_sae must be in 64\.\.8192"):
        backend.training.start("visitor", form, False)
    assert backend.training.status("visitor") is None and backend.training.queue() == []


def test_live_curves_read_what_each_folder_has_written(tmp_path) -> None:
    from saif_ui.service.training import Training

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "train_log.jsonl").write_text('{"step": 1, "mse": 2.0}\n{"step": 2, "mse": 1.5}\n')
    view = TrainingView(1, "x", "running", folders=(str(tmp_path / "run"), str(tmp_path / "empty")))
    assert Training.live_curves(view) == {"run": {"mse": [(1.0, 2.0), (2.0, 1.5)]}}
    assert Training.live_curves(None) == {}
