"""The semantic-proximity test on the real model with a random SAE: scores are shares, compared with random latents."""

from __future__ import annotations

from saif_ui.saif.discovery.discover import pick_contents
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.steering.recipe import Recipe
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent
from saif_ui.saif.studies.proximity_study import run_instruction


def test_scores_are_shares_of_prompts_and_random_latents_exclude_the_selected(engine, rand_sae) -> None:
    spec = SteeringSpec(latents=tuple(SteerLatent(rand_sae, 2, i, mean_act=1.0) for i in (1, 4)))
    recipe = Recipe("french", "saif_topk", spec, k=2, fidelity_threshold=20.0)
    contents = pick_contents(load_contents("test"), 3)
    r = run_instruction(engine, recipe, contents)
    assert r["n_prompts"] == 3 and [s["latent"] for s in r["selected"]] == [1, 4]
    for s in r["selected"]:
        # a share of 3 prompts (rounded to 4 places), and a percentile among the random latents
        assert s["score"] is None or (abs(3 * s["score"] - round(3 * s["score"])) < 1e-3 and 0 <= s["percentile"] <= 1)
    assert not set(r["random_latents"]) & {1, 4} and r["n_random"] == len(r["random_latents"]) <= 30
    assert 0 <= r["mann_whitney_p"] <= 1 and 0 <= r["random_mean"] <= 1
