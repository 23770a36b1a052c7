"""Are the selected latents semantically close to the instruction? A measurable test, against random latents.

SAIF claims the instruction-relevant latents are semantically close to the instruction. Discovery picks them by how
they fire at the *last prompt token* (after the instruction, in the assistant turn). The test here looks elsewhere:
on test contents (which selected nothing) followed by the instruction in each of its wordings (rewordings and
translations in turn), does a latent fire more on the instruction's own tokens than on the content's? Per latent,
the score is the share of prompts where its maximum over the instruction's tokens exceeds its maximum over the
content's (position 0, the attention sink, is never part of either span). The recipe's latents are compared with
`N_RANDOM` random latents of the same SAE that fire somewhere on these prompts (seeded), by a one-sided Mann-Whitney
U test (scipy) and by each selected latent's percentile among the random ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.discover import pick_contents, resolve_instruction
from saif_ui.saif.inputs.contents import Content, load_contents
from saif_ui.saif.inputs.prompts import build_pairs
from saif_ui.saif.steering.recipe import Recipe, require_recipe
from saif_ui.saif.studies import shipped
from saif_ui.saif.studies.findings_proximity import (
    ProximityResult,
    proximity_claim,
    proximity_glance,
    proximity_section,
)
from saif_ui.saif.studies.shipped import Log, recipe_key, run_each
from saif_ui.saif.studies.study import Doc, Study

NAME = "proximity"
VERSION = 1
N_RANDOM = 200
SEED = 0


def study_key(engine: Engine, recipe: Recipe) -> dict[str, Any]:
    return shipped.study_key(
        NAME,
        VERSION,
        engine,
        ("test",),
        checkers=False,
        **recipe_key(engine, recipe),
        latents=recipe.latents,
        n_random=N_RANDOM,
        seed=SEED,
    )


def _scores(engine: Engine, sae: str, recipe: Recipe, contents: list[Content]) -> tuple[np.ndarray, int]:
    """Per latent of the SAE, the share of prompts where it fires more on the instruction than on the content."""
    instr = resolve_instruction(recipe.instruction)
    pairs = build_pairs(engine.chat, [(c.id, c.text) for c in contents], instr.variants(), "post")
    encs = engine.encode([p.positive.text for p in pairs], saes=[sae])
    d_sae = engine.sae(sae).d_sae
    wins = torch.zeros(d_sae, dtype=torch.float64)
    fires = torch.zeros(d_sae, dtype=torch.bool)
    for pair, enc in zip(pairs, encs, strict=True):
        span, content = pair.positive.instruction_tokens, pair.positive.content_tokens
        assert span is not None
        acts = enc.latents[sae].float()
        inst = acts[max(1, span.start) : span.end].amax(0)
        cont = acts[max(1, content.start) : content.end].amax(0)
        wins += (inst > cont).double()
        fires |= (inst > 0) | (cont > 0)
    share = (wins / len(pairs)).numpy()
    share[~fires.numpy()] = np.nan  # a latent that never fires here says nothing either way
    return share, len(pairs)


def run_instruction(engine: Engine, recipe: Recipe, contents: list[Content] | None = None) -> dict[str, Any]:
    from scipy.stats import mannwhitneyu

    chosen = contents if contents is not None else pick_contents(load_contents("test"), None)
    sae = recipe.spec.latents[0].sae
    share, n = _scores(engine, sae, recipe, chosen)
    selected = recipe.latents
    pool = np.array([i for i in np.flatnonzero(~np.isnan(share)) if i not in set(selected)])
    rng = np.random.default_rng(SEED)
    random_ids = sorted(rng.choice(pool, size=min(N_RANDOM, len(pool)), replace=False).tolist())
    sel = np.array([share[i] for i in selected], dtype=float)
    rand = np.array([share[i] for i in random_ids], dtype=float)
    valid = sel[~np.isnan(sel)]
    p = float(mannwhitneyu(valid, rand, alternative="greater").pvalue) if len(valid) and len(rand) else 1.0
    return {
        "instruction": recipe.instruction,
        "sae": sae,
        "n_prompts": n,
        "selected": [
            {
                "latent": int(i),
                "score": None if np.isnan(s) else round(float(s), 4),
                "percentile": None if np.isnan(s) else round(float((rand < s).mean() + 0.5 * (rand == s).mean()), 4),
            }
            for i, s in zip(selected, sel, strict=True)
        ],
        "selected_mean": None if not len(valid) else round(float(valid.mean()), 4),
        "random_mean": round(float(rand.mean()), 4) if len(rand) else None,
        "random_quantiles": {q: round(float(np.quantile(rand, float(q))), 4) for q in ("0.5", "0.9", "0.95")},
        "n_random": len(rand),
        "mann_whitney_p": p,
        "random_latents": random_ids,
    }


def _attached(engine: Engine, iid: str) -> Recipe:
    recipe = require_recipe(iid)
    if recipe.spec.latents[0].sae not in engine.saes:
        raise SaifError(f"the recipe of {iid!r} steers with {recipe.spec.latents[0].sae}, which is not attached")
    return recipe


def proximity_study(
    engine: Engine, instructions: Sequence[str], *, force: bool = False, log: Log = print
) -> dict[str, dict[str, Any]]:
    return run_each(
        NAME,
        (_attached(engine, iid) for iid in instructions),
        lambda recipe: recipe.instruction,
        lambda recipe: study_key(engine, recipe),
        lambda recipe: run_instruction(engine, recipe),
        force=force,
        log=log,
    )


def summary(iid: str, doc: Doc) -> list[str]:
    r: ProximityResult = doc["result"]
    return [
        f"{iid}: selected {r['selected_mean']} vs random {r['random_mean']} (n_random {r['n_random']}, "
        f"Mann-Whitney p {r['mann_whitney_p']:.3g}) on {r['n_prompts']} prompts"
    ]


STUDY = Study(
    name=NAME,
    version=VERSION,
    command="proximity-study",
    help="do the recipe's latents fire on the instruction's own tokens more than random latents? ships docs/studies/",
    key_for=shipped.recipe_key_for(study_key),
    run=proximity_study,
    summary=summary,
    order=20,
    section=proximity_section,
    claim=lambda docs: [proximity_claim(docs)],
    glance=proximity_glance,
    index_extra=lambda doc: {"mann_whitney_p": doc["result"]["mann_whitney_p"]},
)
