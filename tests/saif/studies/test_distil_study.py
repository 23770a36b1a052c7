"""The distillation study on the real model, shrunk: every method trained, tuned on validation, tested on the
steering study's contents and paired against its shipped verdicts; the vectors ship with their readings."""

from __future__ import annotations

import pytest

from saif_ui.saif.distil.config import DistilConfig
from saif_ui.saif.distil.store import load_distilled
from saif_ui.saif.studies import derived, distil_study
from tests.saif.studies.conftest import SEARCH, SHORT, shrunk_steering_study

TINY = {"n_train": 2, "answer_tokens": 6, "steps": 4, "eval_every": 2, "n_val": 2, "batch_size": 2}
METHODS = {
    "distil_sae": DistilConfig(basis="sae", refit_steps=2, candidates=6, keep=2, n_discovery=4, **TINY),
    "distil_free": DistilConfig(basis="free", **TINY),
}


@pytest.fixture(scope="module")
def study(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp("distil")
    with shrunk_steering_study(engine, root) as s:
        item = derived.Item(engine, s.recipe, s.doc, SHORT)
        result = distil_study.run_instruction(item, lambda _: None, methods=METHODS, search=SEARCH, root=root)
        yield result, s, root


def test_every_method_is_tested_and_paired_on_the_steering_studys_contents(study) -> None:
    result, s, _ = study
    assert set(result["methods"]) == {"distil_sae", "distil_free", "random_direction_free"}
    assert result["contents"] == s.shipped["contents"] and result["layer"] == 5
    for block in result["methods"].values():
        assert len(block["outputs"]) == result["n"] == 4
        assert block["success"]["n"] == 4 and 0 <= block["success"]["ci"][0] <= block["success"]["ci"][1] <= 1
        assert set(block["paired"]) == {"original", "prompted", "steered"}
    assert result["shipped"]["prompted"]["success"]["n"] == 4


def test_alpha_is_chosen_on_validation_among_the_grid(study) -> None:
    result, _, _ = study
    for name in ("distil_sae", "distil_free"):
        block = result["methods"][name]
        assert block["alpha"] in SEARCH.alphas
        assert sorted(c["alpha"] for c in block["validation"]) == sorted(SEARCH.alphas)


def test_vectors_ship_with_their_reading(study) -> None:
    result, s, root = study
    sae = result["methods"]["distil_sae"]
    assert len(sae["training"]["latents"]) == 2 and sae["reading"]["nonzero"] == 2
    assert sae["reading"]["share"]["5"] == pytest.approx(1.0)
    free = result["methods"]["distil_free"]
    assert free["reading"]["sae"] == s.names[-1] and free["reading"]["effect"][0]["layer"] == 5
    saved, manifest = load_distilled(root / sae["vector"])
    assert saved.latents == sae["training"]["latents"] and manifest["alpha"] == sae["alpha"]
    rows = distil_study.distil_section({"french": {"result": result}}, root)
    assert any(line.startswith("| french | 4 |") for line in rows)
