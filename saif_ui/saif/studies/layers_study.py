"""Do final layers steer best? Each instruction steered at every attached SAE's layer, each tuned on validation.

SAIF reports that latents from the last layers steer best. For each instruction with a recipe, at every attached
SAE (the shipped L8, L15, L24 and the late L27):
- discovery's top-5 at that layer, its α chosen over the search's grid on the validation stage contents
  (`recipe_search.layer_spec` swept by `stage_candidates`, the first stage of the recipe search: no test content is
  read to choose);
- that point steered on the steering study's test contents and judged as it judges (success against the shipped
  prompted answers with the recipe's threshold, and fluent strict), each rate with its 95 % interval;
- McNemar's exact test of every layer against the deepest one, on the same contents.
The recipe itself may use another k, positions or decay; this study holds those fixed (k = 5, all positions, no
decay) so that only the layer changes. A variant is tried too: the two layers that rank best on validation steered
at once (each at its own validated α, times 1/2 or 1, chosen on the validation stage); it goes to the test contents
only when it beats the best single layer on validation.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.config import shipped_saes
from saif_ui.engine.errors import SaifError
from saif_ui.saif.judge.stats import mcnemar_exact
from saif_ui.saif.steering.recipe import Recipe
from saif_ui.saif.steering.recipe_search import (
    SearchConfig,
    best_candidate,
    layer_spec,
    stage_candidates,
    stage_counts,
    stage_evaluation,
)
from saif_ui.saif.steering.spec import SteeringSpec
from saif_ui.saif.studies import derived, steering_study
from saif_ui.saif.studies.findings_layers import LayersResult, layers_claim, layers_glance, layers_section
from saif_ui.saif.studies.shipped import Log, sae_key
from saif_ui.saif.studies.study import Doc

NAME = "layers"
VERSION = 1
METRICS = derived.METRICS
SEARCH = SearchConfig()


def _saes_by_layer(engine: Engine) -> dict[int, str]:
    """The shipped SAEs (assets/saes/), by layer; each must be attached (the embedded model's default)."""
    names = [Path(p).name for p in shipped_saes()]
    missing = [n for n in names if n not in engine.saes]
    if missing:
        raise SaifError(f"the layers study steers with every shipped SAE; not attached: {', '.join(missing)}")
    return {engine.sae(n).layer: n for n in sorted(names, key=lambda n: engine.sae(n).layer)}


def key_fields(engine: Engine, recipe: Recipe) -> dict[str, Any]:
    """Its own part of the key: every shipped SAE it steers with (in place of the recipe's), the search's settings
    and the recipe's threshold."""
    return {
        "saes": [sae_key(engine, name) for name in _saes_by_layer(engine).values()],
        "search": derived.search_key(SEARCH),
        "fidelity_threshold": recipe.fidelity_threshold,
    }


def run_instruction(item: derived.Item, log: Log = print, *, search: SearchConfig = SEARCH) -> dict[str, Any]:
    """Every layer's validated point on test contents (uncached; `STUDY` ships it)."""
    engine, iid, tau = item.engine, item.recipe.instruction, item.recipe.fidelity_threshold
    layers: list[dict[str, Any]] = []
    verdicts: dict[int, dict[str, list[bool]]] = {}
    for layer, sae in _saes_by_layer(engine).items():
        log(f"{NAME}/{iid}: L{layer}: α on validation, then {len(item.contents)} test contents")
        top5 = layer_spec(engine, iid, sae, search)
        tried = stage_candidates(engine, iid, top5, tau, search)
        chosen = best_candidate(tried)
        spec = top5.with_alpha(chosen.alpha)
        rows = item.judged(spec)
        verdicts[layer] = derived.verdicts(rows)
        layers.append(
            {
                "layer": layer,
                "sae": sae,
                "latents": [e.latent for e in spec.latents],
                "alpha": chosen.alpha,
                "validation": [asdict(c) for c in tried],
                "norm": round(spec.norm(engine), 3),
                **{m: steering_study.rate(verdicts[layer][m]) for m in METRICS},
                "outputs": rows,
            }
        )
    two = _two_layers(item, layers, search, log)
    deepest = max(verdicts)
    for block in layers:
        block["paired_vs_deepest"] = {
            m: mcnemar_exact(verdicts[block["layer"]][m], verdicts[deepest][m]).to_dict() for m in METRICS
        }
    return {
        **item.header(),
        "deepest": deepest,
        "original": item.shipped_rates("original"),
        "layers": layers,
        "two_layers": two,
    }


TWO_LAYER_SCALES = (0.5, 1.0)
"""Two layers at once: the two layers' validated vectors summed, each at its own α times these (the sum of two
vectors at full strength pushes harder than either alone, so half is tried too)."""


def _two_layers(
    item: derived.Item, layers: list[dict[str, Any]], search: SearchConfig, log: Log
) -> dict[str, Any] | None:
    """Steering at the two layers that rank best on validation at once (a variant of the search, Stolfo et al.),
    tried on the validation stage; run on test only when it beats the best single layer there."""
    if len(layers) < 2:
        return None
    ranked = sorted(layers, key=lambda b: _rank_validation(b), reverse=True)[:2]
    engine, iid, tau = item.engine, item.recipe.instruction, item.recipe.fidelity_threshold
    entries = []
    for b in ranked:
        entries += [replace(e, strength=b["alpha"]) for e in layer_spec(engine, iid, b["sae"], search).latents]
    spec = SteeringSpec(
        latents=tuple(entries), alpha=1.0, meta={"instruction": iid, "layers": [b["layer"] for b in ranked]}
    )
    log(f"{NAME}/{iid}: L{ranked[0]['layer']} + L{ranked[1]['layer']} at once on the validation stage")
    ev = stage_evaluation(engine, iid, spec, tau, search, alphas=TWO_LAYER_SCALES)
    tried = []
    for scale in ev.alphas:
        won, fluent, strict = stage_counts(ev, scale)
        tried.append({"scale": scale, "successes": won, "fluent": fluent, "strict": strict, "n": search.n_stage})
    best = max(tried, key=lambda t: (t["successes"], t["fluent"], t["strict"], -t["scale"]))
    single_best = max(_rank_validation(b) for b in ranked)
    wins = (best["successes"], best["fluent"], best["strict"]) > single_best[:3]
    out: dict[str, Any] = {"layers": [b["layer"] for b in ranked], "validation": tried, "scale": best["scale"],
                           "beats_single_layer_on_validation": wins}  # fmt: skip
    if wins:
        chosen = spec.with_alpha(best["scale"])
        rows = item.judged(chosen)
        out.update({m: steering_study.rate(v) for m, v in derived.verdicts(rows).items()})
        out["outputs"] = rows
    return out


def _rank_validation(block: dict[str, Any]) -> tuple[int, int, int, float]:
    """A layer's chosen validation point, ranked as the search ranks (successes, fluent strict, strict, smaller α)."""
    c = next(c for c in block["validation"] if c["alpha"] == block["alpha"])
    return (c["successes"], c["fluent"], c["strict"], -c["alpha"])


def summary(iid: str, doc: Doc) -> list[str]:
    r: LayersResult = doc["result"]
    row = ", ".join(
        f"L{b['layer']} α={b['alpha']:g} {b['success']['rate']:.0%}/{b['fluent_strict']['rate']:.0%}"
        for b in r["layers"]
    )
    return [f"{iid} (success/fluent strict): {row} ({doc['seconds']:.0f} s)"]


STUDY = derived.derived_study(
    NAME,
    VERSION,
    run_instruction,
    splits=("discovery", "validation", "test"),
    key_fields=key_fields,
    recipe_sae=False,
    command="layers-study",
    help="each instruction steered at every shipped SAE's layer (α chosen on validation), on test contents",
    summary=summary,
    order=50,
    section=layers_section,
    claim=lambda docs: [layers_claim(docs)],
    glance=layers_glance,
    pending="final layers steer best (every shipped layer, a late L27 SAE among them)",
)
