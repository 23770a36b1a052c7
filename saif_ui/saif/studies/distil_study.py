"""Does steering follow the instruction when the vector is distilled from the prompt? And what is it made of?

For each instruction with a recipe, at the distillation layer (`distil.train.default_layer`):
- `distil_sae`: a sparse combination of the SAE's latents trained to match the prompted next-token distributions
  (KL) along the prompted answers to discovery contents; `distil_free`: the same with any d_model vector;
  `distil_ce`: the free vector trained on the answers' tokens only (cross-entropy, as ReFT-r1): the objective
  control. Each is trained with early stopping on validation verdicts (`distil.train`), then its α (× the trained
  vector) is chosen on the recipe search's validation stage contents over `ALPHAS`;
- `random_direction`: a Gaussian direction at `distil_free`'s norm and α (seeded).
On the steering study's test contents, judged as it judges (success: strict, not a loop, faithful against its
prompted answers at the recipe's threshold), each with its 95 % interval and McNemar's exact test against the
recipe (`steered`), `original` and `prompted`, read back from the shipped steering study with the other controls.
Each trained vector's reading in the SAE (`distil.reading`): top-5/10/20 shares, labels, overlap with SAIF's top
20, the effect check; and the gap between `distil_sae` and `distil_free` (the price of interpretability). The
vectors ship beside the results (`vectors/<instruction>/<method>/`: safetensors and manifest).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from saif_ui.engine.keys import sae_key
from saif_ui.resources import output_dir
from saif_ui.saif.distil.config import DISTIL_VERSION, DistilConfig
from saif_ui.saif.distil.reading import read_distilled
from saif_ui.saif.distil.store import save_distilled
from saif_ui.saif.distil.train import default_layer, distil
from saif_ui.saif.judge.stats import mcnemar_exact
from saif_ui.saif.steering.baselines import random_direction_spec
from saif_ui.saif.steering.recipe import Recipe
from saif_ui.saif.steering.recipe_search import SearchConfig, best_candidate, stage_candidates
from saif_ui.saif.studies import derived, steering_study
from saif_ui.saif.studies.findings_sections import section, table
from saif_ui.saif.studies.shipped import Log
from saif_ui.saif.studies.study import Doc, Docs

NAME = "distil"
VERSION = 1
SEED = 0
METHODS: dict[str, DistilConfig] = {
    "distil_sae": DistilConfig(basis="sae"),
    "distil_free": DistilConfig(basis="free"),
    "distil_ce": DistilConfig(basis="free", objective="ce"),
}
ALPHAS: tuple[float, ...] = (0.75, 1.0, 1.5, 2.0)
"""× the trained vector (α 1 is what was trained): a short grid around it, as for the recipes."""
SEARCH = SearchConfig(alphas=ALPHAS)
SHIPPED = ("original", "prompted", "steered", "mean_difference", "random_latents", "random_direction")
"""Methods read back from the steering study (its `random_direction` is at the recipe's norm)."""
METRICS = derived.METRICS


def key_fields(engine: Any, recipe: Recipe) -> dict[str, Any]:
    layer = default_layer(engine)
    at = [n for n in engine.sae_names() if engine.sae(n).layer == layer]
    return {
        "distil": DISTIL_VERSION,
        "layer": layer,
        "distil_sae": sae_key(engine, at[0]) if at else None,
        "methods": {name: asdict(cfg) for name, cfg in METHODS.items()},
        "search": derived.search_key(SEARCH),
        "fidelity_threshold": recipe.fidelity_threshold,
        "seed": SEED,
    }


def vectors_dir(root: Path | None = None) -> Path:
    return (root or output_dir("docs") / "studies") / NAME / "vectors"


def run_instruction(
    item: derived.Item,
    log: Log = print,
    *,
    methods: dict[str, DistilConfig] | None = None,
    search: SearchConfig = SEARCH,
    root: Path | None = None,
) -> dict[str, Any]:
    """Train, tune on validation and test every method for one instruction (uncached; `STUDY` ships it); `methods`,
    `search` and `root` (where vectors are written) default to the shipped protocol."""
    engine, recipe = item.engine, item.recipe
    iid, tau = recipe.instruction, recipe.fidelity_threshold
    shipped = {m: {k: item.shipped_verdicts(m, k) for k in METRICS} for m in SHIPPED}
    blocks: dict[str, Any] = {}
    specs = {}
    for name, cfg in (methods or METHODS).items():
        log(f"{NAME}/{iid}: training {name}")
        trained = distil(engine, iid, replace(cfg, seed=SEED), fidelity_threshold=tau, log=log)
        spec = trained.spec()
        candidates = stage_candidates(engine, iid, spec, tau, search)
        alpha = best_candidate(candidates).alpha
        specs[name] = spec.with_alpha(alpha)
        log(f"{NAME}/{iid}: {name} at α {alpha} on {len(item.contents)} test contents")
        rows = item.judged(specs[name])
        reading = read_distilled(engine, trained)
        folder = save_distilled(
            trained, vectors_dir(root) / iid / name, {"alpha": alpha, "reading": reading.to_dict() if reading else None}
        )
        blocks[name] = _block(derived.verdicts(rows), shipped, rows) | {
            "alpha": alpha,
            "norm": round(specs[name].norm(engine), 3),
            "validation": [asdict(c) for c in candidates],
            "training": {**trained.summary(), "checks": [asdict(c) for c in trained.checks]},
            "reading": reading.to_dict() if reading else None,
            "vector": str(folder.relative_to(folder.parents[3])),
        }
    if "distil_free" in specs:
        control = random_direction_spec(specs["distil_free"], engine, seed=SEED)
        log(f"{NAME}/{iid}: random direction at the free vector's norm")
        rows = item.judged(control)
        blocks["random_direction_free"] = _block(derived.verdicts(rows), shipped, rows) | {
            "norm": round(control.norm(engine), 3)
        }
    return {
        **item.header(),
        "layer": default_layer(engine),
        "shipped": {m: {k: steering_study.rate(v) for k, v in shipped[m].items()} for m in SHIPPED},
        "methods": blocks,
    }


def _block(
    verdicts: dict[str, list[bool]], shipped: dict[str, dict[str, list[bool]]], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        **{m: steering_study.rate(verdicts[m]) for m in METRICS},
        "paired": {
            other: mcnemar_exact(verdicts["success"], shipped[other]["success"]).to_dict()
            for other in ("original", "prompted", "steered")
        },
        "outputs": rows,
    }


# ------------------------------------------------------------ FINDINGS


def _pct(rate: dict[str, Any]) -> str:
    low, high = rate["ci"]
    return f"{rate['rate']:.0%} [{low:.0%}, {high:.0%}]"


def summary(iid: str, doc: Doc) -> list[str]:
    r = doc["result"]
    parts = [f"{m} {r['shipped'][m]['success']['rate']:.0%}" for m in ("original", "prompted", "steered")]
    parts += [f"{m} {b['success']['rate']:.0%}" for m, b in r["methods"].items()]
    return [f"{iid}: n {r['n']}: " + ", ".join(parts) + f" ({doc['seconds']:.0f} s)"]


READING_INTRO = (
    "How each vector reads in the SAE (top-5/10/20 share of the squared coefficients; SAIF overlap among the top 20; "
    "effect: cosine / top-20 overlap of the latent change it causes with the one the prompt causes):"
)


def distil_section(docs: Docs, figures: Path) -> list[str]:
    rows, reading_rows = [], []
    for iid in sorted(docs):
        r = docs[iid]["result"]
        m, s = r["methods"], r["shipped"]
        best_control = max(
            [
                ("mean_difference", s["mean_difference"]["success"]),
                ("random_direction", s["random_direction"]["success"]),
            ]
            + (
                [("random_direction_free", m["random_direction_free"]["success"])]
                if "random_direction_free" in m
                else []
            ),
            key=lambda kv: kv[1]["rate"],
        )
        sae = m.get("distil_sae", {})
        rows.append(
            [
                iid,
                r["n"],
                _pct(s["original"]["success"]),
                _pct(s["prompted"]["success"]),
                _pct(s["steered"]["success"]),
                f"{_pct(sae['success'])} ({len(sae['training']['latents'])})" if sae else "—",
                _pct(m["distil_free"]["success"]) if "distil_free" in m else "—",
                _pct(m["distil_ce"]["success"]) if "distil_ce" in m else "—",
                f"{best_control[0]} {_pct(best_control[1])}",
                f"{sum(b['training']['seconds'] for k, b in m.items() if 'training' in b):.0f}",
            ]
        )
        for name in ("distil_sae", "distil_free"):
            rd = m.get(name, {}).get("reading")
            if rd:
                effect = rd["effect"][0] if rd["effect"] else None
                reading_rows.append(
                    [
                        iid,
                        name,
                        rd["nonzero"],
                        "/".join(f"{rd['share'][k]:.0%}" for k in ("5", "10", "20")),
                        rd["saif_overlap"]["shared"],
                        f"{effect['cosine']:.2f} / {effect['top_overlap']:.0%}" if effect else "—",
                        ", ".join(
                            f"{i} {lab}".strip() for i, lab in zip(rd["latents"][:3], rd["labels"][:3], strict=False)
                        ),
                    ]
                )
    return section(
        "Distilled steering (trained on the prompt)",
        "Success on test (strict, not a loop, faithful), 95 % Wilson intervals; α of each trained vector chosen on "
        "validation. `distil_sae` shows its number of latents; seconds are the training time of the three vectors. "
        "Command: `python -m saif_ui distil-study`.",
        table(
            ["instruction", "n", "original", "prompted", "SAIF recipe", "distil sae (latents)", "distil free",
             "CE control", "best control", "train s"],
            rows,
        ),
        [READING_INTRO, "", *table(["instruction", "vector", "latents", "top 5/10/20", "shared with SAIF", "effect",
                                     "largest"], reading_rows)],
    )  # fmt: skip


def distil_claim(docs: Docs) -> list[str]:
    won = []
    for iid, doc in sorted(docs.items()):
        r = doc["result"]
        base = r["shipped"]["original"]["success"]
        for name, b in r["methods"].items():
            if (
                name.startswith("distil")
                and b["success"]["rate"] - base["rate"] >= 0.3
                and b["success"]["ci"][0] > base["rate"]
            ):
                won.append(f"{iid} ({name})")
                break
    return [
        f"- **Distilled steering** (trained on the prompt, α on validation, test n per instruction in the section): "
        f"{len(won)} of {len(docs)} instructions gain ≥ 30 points over the unsteered model with the interval above "
        f"it{': ' + ', '.join(won) if won else ''}. Whether instruction following is carried by a few SAE latents: "
        "see the sae-vs-free gap and the top-latent shares in the section."
    ]  # fmt: skip


STUDY = derived.derived_study(
    NAME,
    VERSION,
    run_instruction,
    splits=("discovery", "validation", "test"),
    key_fields=key_fields,
    command="distil-study",
    help="distil each instruction's prompt into a steering vector (sae and free bases, CE control), test it",
    summary=summary,
    order=35,
    section=distil_section,
    claim=distil_claim,
    unshipped=("No distillation study has been shipped yet: run `python -m saif_ui distil-study`.", ""),
)
