"""What the tests of the command line share: the JSON a command printed, and a hand-made recipe saved where the
command line reads recipes."""

from __future__ import annotations

import json


def json_out(capsys) -> dict:
    """What the command just printed, read as JSON."""
    return json.loads(capsys.readouterr().out)


def hand_recipe(tmp_path, monkeypatch) -> None:
    """A recipe for french on the shipped L24 SAE, saved where the CLI reads recipes."""
    from saif_ui.saif.steering import recipe as recipes
    from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent

    spec = SteeringSpec(latents=(SteerLatent("L24_fast_topk64", 24, 5, mean_act=2.0),), alpha=3.0)
    made = recipes.Recipe("french", "saif_topk", spec, k=1, fidelity_threshold=20.0, validation={"n": 96})
    monkeypatch.setattr(recipes, "RECIPES_PATH", tmp_path / "recipes.json")
    recipes.save_recipe(made, recipes.RECIPES_PATH)  # writes go where the CLI now reads
