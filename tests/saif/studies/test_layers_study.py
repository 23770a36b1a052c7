"""The layers study on the real model, shrunk: every SAE's layer tuned on validation stage contents, then steered on
the steering study's test contents and compared with the deepest layer."""

from __future__ import annotations

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.saif.studies import derived, layers_study
from tests.saif.studies.conftest import SEARCH, SHORT, shrunk_steering_study


@pytest.fixture(scope="module")
def study(engine, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    with shrunk_steering_study(engine, tmp_path_factory.mktemp("layers"), seeds={3: 3, 5: 5}) as s:
        mp.setattr(layers_study, "shipped_saes", lambda: s.folders)
        try:
            run = layers_study.run_instruction
            yield s.shipped, run(derived.Item(engine, s.recipe, s.doc, SHORT), lambda _: None, search=SEARCH)
        finally:
            mp.undo()


def test_every_layer_in_order_with_its_validation_choice(study) -> None:
    _, result = study
    assert [b["layer"] for b in result["layers"]] == [3, 5] and result["deepest"] == 5
    for b in result["layers"]:
        tried = b["validation"]
        assert [c["alpha"] for c in tried] == [1.0, 4.0] and all(
            c["n"] == 2 and c["k"] == len(b["latents"]) for c in tried
        )
        assert b["alpha"] in (1.0, 4.0) and len(b["latents"]) <= 5


def test_layers_are_judged_on_the_test_contents_against_the_deepest(study) -> None:
    shipped, result = study
    for b in result["layers"]:
        assert [o["id"] for o in b["outputs"]] == shipped["contents"]
        assert b["success"]["rate"] == sum(o["success"] for o in b["outputs"]) / 4
        assert b["paired_vs_deepest"]["fluent_strict"]["n"] == 4
    deepest = result["layers"][-1]
    assert deepest["paired_vs_deepest"]["success"]["p"] == 1.0  # itself


def test_two_layers_at_once_is_tried_on_validation_and_tested_only_if_it_wins(study) -> None:
    shipped, result = study
    two = result["two_layers"]
    assert sorted(two["layers"]) == [3, 5] and [t["scale"] for t in two["validation"]] == [0.5, 1.0]
    assert all(t["n"] == 2 for t in two["validation"]) and two["scale"] in (0.5, 1.0)
    if two["beats_single_layer_on_validation"]:
        assert [o["id"] for o in two["outputs"]] == shipped["contents"]
    else:
        assert "outputs" not in two and "success" not in two


def test_an_unattached_shipped_sae_is_a_clear_error(engine, monkeypatch) -> None:
    monkeypatch.setattr(layers_study, "shipped_saes", lambda: ["/nowhere/L99_missing"])
    with pytest.raises(SaifError, match="not attached: L99_missing"):
        layers_study._saes_by_layer(engine)
