"""The backend's measuring part: bounds refused before the model runs, and a measurement keyed by what it steers so a
repeat comes from the result cache while another spec is measured afresh."""

from __future__ import annotations

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.service import sweeps
from saif_ui.service.controls import PromptChoice, SteerControls


def test_a_joint_sweep_over_too_many_contents_is_refused_with_the_bound(backend) -> None:
    with pytest.raises(SaifError, match=f"2 to {sweeps.MAX_SWEEP_CONTENTS} contents, not 200"):
        backend.sweeps.sweep_joint(PromptChoice("french"), "one_sentence", (0.0, 1.0), None, 200, 4)


def test_an_alpha_sweep_is_served_again_from_the_cache_and_keyed_by_its_spec(backend, rand_sae) -> None:
    choice = PromptChoice("french")
    controls = SteerControls.parse(["3"], [1.0], 2.0, scale="unit")
    first = backend.sweeps.evaluate(choice, rand_sae, controls, None, (0.0, 2.0), 2, 3)
    hits = backend.context.results.stats()["hits"]
    again = backend.sweeps.evaluate(choice, rand_sae, controls, None, (0.0, 2.0), 2, 3)
    assert backend.context.results.stats()["hits"] == hits + 1 and again.to_dict() == first.to_dict()
    assert [round(a, 6) for a in first.alphas] == [0.0, 2.0]
    other = SteerControls.parse(["5"], [1.0], 2.0, scale="unit")
    backend.sweeps.evaluate(choice, rand_sae, other, None, (0.0, 2.0), 2, 3)
    assert backend.context.results.stats()["hits"] == hits + 1  # another latent: computed, not a hit
