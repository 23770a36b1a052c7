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

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

from saif_ui.engine.errors import SaifError
from saif_ui.engine.keys import sae_key
from saif_ui.resources import output_dir
from saif_ui.saif.distil.config import DISTIL_VERSION, DistilConfig
from saif_ui.saif.distil.reading import read_distilled
from saif_ui.saif.distil.store import load_distilled, save_distilled
from saif_ui.saif.distil.train import default_layer, distil
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.judge.stats import mcnemar_exact
from saif_ui.saif.steering.baselines import random_direction_spec
from saif_ui.saif.steering.recipe import Adopted, Recipe, require_recipe
from saif_ui.saif.steering.recipe_search import Candidate, SearchConfig, best_candidate, stage_candidates
from saif_ui.saif.studies import derived, steering_study
from saif_ui.saif.studies.findings_sections import GAIN, Rate, clears_bar, n_each, rate_ci, section, table, tally
from saif_ui.saif.studies.shipped import Log, is_current, load_shipped
from saif_ui.saif.studies.steering_study import TestFigures
from saif_ui.saif.studies.study import Doc, Docs, Glance

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
            "validation": [c.to_dict() for c in candidates],
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


# ------------------------------------------------------------ the recipe's method, chosen on validation


def _chosen_candidate(candidates: list[dict[str, Any]], alpha: float) -> Candidate:
    found = [Candidate(**c) for c in candidates if c["alpha"] == alpha]
    if not found:
        raise SaifError(f"no validation figures at the chosen α {alpha}")
    return found[0]


def _saif_stage_candidate(recipe: Recipe) -> Candidate | None:
    """SAIF's spec on the same validation stage contents the distilled vectors' α were chosen on (the search's
    stage figures of the recipe's setting), or None for a recipe whose search kept no stage figures."""
    finalists = recipe.validation.get("finalists") or []
    if not finalists:
        return None
    f = finalists[0]
    setting = (f["layer"], f["k"], f["alpha"], f["positions"], f["decay"], f.get("method", "add"))
    n_stage = SEARCH.n_stage
    for c in recipe.validation.get("candidates") or []:
        cand = Candidate(**c)
        if cand.setting == setting and cand.n == n_stage:
            return cand
    return None


def validation_choice(recipe: Recipe, doc: Doc) -> tuple[str, dict[str, dict[str, Any]]]:
    """The method an instruction steers with, chosen on the validation stage contents only: SAIF's recipe or one of
    the distilled vectors at its α, ranked as the recipe search ranks candidates (successes, then fluent-strict,
    then strict); a tie keeps SAIF's (it was there first). Returns the winner and every method's
    stage figures."""
    figures: dict[str, Candidate] = {}
    saif = _saif_stage_candidate(recipe)
    if saif is not None:
        figures[recipe.method] = saif
    for name, block in doc["result"]["methods"].items():
        if name in METHODS:
            figures[name] = _chosen_candidate(block["validation"], block["alpha"])
    if not figures:
        raise SaifError(f"{recipe.instruction}: no validation figures to choose a method on")

    def rank(kv: tuple[str, Candidate]) -> tuple[float, float, float, bool]:
        c, n = kv[1], kv[1].n or 1
        return (c.successes / n, c.fluent / n, c.strict / n, kv[0] not in METHODS)

    winner = max(figures.items(), key=rank)[0]
    return winner, {name: c.to_dict() for name, c in figures.items()}


def adoption(engine: Any, recipe: Recipe, doc: Doc, *, root: Path | None = None) -> Adopted | None:
    """What `recipe` adopts from the distillation study's shipped result `doc` (None when SAIF's spec wins on
    validation): the winning vector at its chosen α, read from the vectors the study shipped."""
    winner, figures = validation_choice(recipe, doc)
    if winner not in METHODS:
        return None
    block = doc["result"]["methods"][winner]
    folder = vectors_dir(root) / recipe.instruction / winner
    trained, _ = load_distilled(folder)
    spec = trained.spec().with_alpha(float(block["alpha"]))
    return Adopted(
        method=winner,
        spec=spec,
        validation={
            "rule": "most successes on the validation stage contents, then fluent-strict (the recipe search's rank)",
            "n": figures[winner]["n"],
            "methods": figures,
        },
        provenance={
            "study": NAME,
            "key_digest": doc["key_digest"],
            "vector": block["vector"],
            "norm": block["norm"],
            "commit": doc.get("provenance", {}).get("git_commit"),
        },
    )


def chosen_test_rate(recipe: Recipe, doc: Doc) -> tuple[str, dict[str, Any]]:
    """The method chosen on validation and its test success rate (from this study, or the steering study's for
    SAIF's recipe): the figure the claim is made on, never the best of the methods on test."""
    winner, _ = validation_choice(recipe, doc)
    r = doc["result"]
    if winner in r["methods"]:
        return winner, r["methods"][winner]["success"]
    return winner, r["shipped"]["steered"]["success"]


def with_distilled(engine: Any, recipe: Recipe, figures: TestFigures) -> TestFigures:
    """The recipe's shipped test figures plus each distilled method's, from this study's shipped result for the
    same test contents (when one is shipped); `current` also requires that result's key to match."""
    doc = load_shipped(NAME, recipe.instruction)
    if doc is None:
        return figures
    try:
        current = is_current(doc, STUDY.key_for(engine, recipe.instruction))
    except SaifError:
        current = False
    methods = {k: b for k, b in doc["result"]["methods"].items() if k in METHODS}
    return replace(
        figures,
        rates={**figures.rates, **{k: (b["success"]["rate"], *b["success"]["ci"]) for k, b in methods.items()}},
        paired_p={**figures.paired_p, **{k: b["paired"]["steered"]["p"] for k, b in methods.items()}},
        current=figures.current and current,
    )


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


def _sae_vs_free(m: dict[str, Any]) -> tuple[float, float] | None:
    """Test success of `distil_sae` minus `distil_free` and McNemar's p on the same contents (the price of
    interpretability), or None when either is missing."""
    if "distil_sae" not in m or "distil_free" not in m:
        return None
    a = [bool(r["success"]) for r in m["distil_sae"]["outputs"]]
    b = [bool(r["success"]) for r in m["distil_free"]["outputs"]]
    return m["distil_sae"]["success"]["rate"] - m["distil_free"]["success"]["rate"], mcnemar_exact(a, b).p


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
        chosen, rate = chosen_test_rate(require_recipe(iid), docs[iid])
        gap = _sae_vs_free(m)
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
                f"{chosen}: {_pct(rate)}",
                f"{100 * gap[0]:+.0f} (p {gap[1]:.2g})" if gap else "—",
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
        "validation. `distil_sae` shows its number of latents. *Chosen on validation* is the method the instruction "
        "steers with (SAIF's recipe or a distilled vector, ranked on the validation stage contents: "
        "`python -m saif_ui adopt-distilled`) and its test figure, the one the claim counts. *sae − free* is the "
        "price of interpretability on test, with McNemar's exact p; seconds are the training time of the three "
        "vectors. Command: `python -m saif_ui distil-study`.",
        table(
            ["instruction", "n", "original", "prompted", "SAIF recipe", "distil sae (latents)", "distil free",
             "CE control", "best control", "chosen on validation", "sae − free", "train s"],
            rows,
        ),
        [READING_INTRO, "", *table(["instruction", "vector", "latents", "top 5/10/20", "shared with SAIF", "effect",
                                     "largest"], reading_rows)],
    )  # fmt: skip


DISTILLED = "Distilled steering"
FEW_LATENTS = "Instruction following is carried by a few SAE latents?"


@dataclass(frozen=True)
class DistilTally:
    """What the distillation claims count over the shipped instructions (`distil_tally`)."""

    won: list[tuple[str, str, dict[str, Any], dict[str, Any]]]
    """(instruction, method chosen on validation, its test rate, the unsteered rate) where it clears the bar."""
    categories: set[str]
    """The catalogue categories of `won`."""
    matched: list[tuple[str, bool]]
    """Where the free vector clears 30 points: (instruction, whether the SAE combination matches it)."""
    shares: list[float]
    """Each free vector's top-20 share of its squared norm in the SAE reading."""

    @property
    def few(self) -> int:
        """How many of `matched` the SAE combination matches."""
        return sum(ok for _, ok in self.matched)

    @property
    def median_share(self) -> str:
        return f"{sorted(self.shares)[len(self.shares) // 2]:.0%}" if self.shares else "—"


def distil_tally(docs: Docs) -> DistilTally:
    """The numbers both distillation claims and their glance rows are made of."""
    won, categories, matched, shares = [], set(), [], []
    for iid, doc in sorted(docs.items()):
        r = doc["result"]
        base = r["shipped"]["original"]["success"]
        chosen, rate = chosen_test_rate(require_recipe(iid), doc)
        if clears_bar(rate["rate"], rate["ci"][0], base["rate"]):
            won.append((iid, chosen, rate, base))
            categories.add(load_catalogue().get(iid).category)
        gap = _sae_vs_free(r["methods"])
        if gap is not None and r["methods"]["distil_free"]["success"]["rate"] - base["rate"] >= GAIN:
            matched.append((iid, gap[0] > -0.1 and gap[1] >= 0.05))
        rd = r["methods"].get("distil_free", {}).get("reading")
        if rd:
            shares.append(rd["share"]["20"])
    return DistilTally(won, categories, matched, shares)


def distil_claim(docs: Docs) -> list[str]:
    t = distil_tally(docs)
    won = [f"{iid} ({chosen})" for iid, chosen, _, _ in t.won]
    return [
        f"- **{DISTILLED}** (the method chosen on validation per instruction, tested on held-out contents, n "
        f"per instruction in the section): {len(won)} of {len(docs)} instructions, in {len(t.categories)} categories, "
        f"gain ≥ 30 points over the unsteered model with the interval above it"
        f"{': ' + ', '.join(won) if won else ''}.",
        f"- **{FEW_LATENTS}** Where the free vector works (≥ 30 points, "
        f"{len(t.matched)} instructions), the ≤ {METHODS['distil_sae'].keep}-latent SAE combination matches it (within "
        f"10 points, McNemar p ≥ 0.05) for {t.few}; the free vectors' top 20 latents carry a median "
        f"{t.median_share} of their squared norm in a sparse non-negative reading. "
        + ("Supported where it matches." if t.few else "Not supported by this model's SAEs so far."),
    ]  # fmt: skip


def distil_glance(docs: Docs) -> list[Glance]:
    """Both distillation claims at a glance: the bar's count with the largest gain and its interval, then how often
    the few-latent SAE combination matches the free vector."""
    t = distil_tally(docs)
    n = n_each(d["result"]["n"] for d in docs.values())
    best = ""
    if t.won:
        iid, chosen, rate, base = max(t.won, key=lambda w: w[2]["rate"] - w[3]["rate"])
        best = f"; largest `{iid}` ({chosen}) {base['rate']:.0%} → {rate_ci(cast(Rate, rate))}"
    cats = f" in {len(t.categories)} categor{'y' if len(t.categories) == 1 else 'ies'}" if t.won else ""
    return [
        Glance(
            f"{DISTILLED}: a vector trained on the prompt makes the model follow it (method chosen on validation)",
            "Prompt baking: matching the prompted model (KL) generalises from far less data than cross-entropy",
            f"{len(t.won)} of {len(docs)} instructions{cats} gain ≥ 30 points{best} ({n})",
            # the steering claim's bar: at least two catalogue categories (issue 11)
            "supported" if len(t.categories) >= 2 else ("mixed" if t.won else "not supported"),
        ),
        Glance(
            "SAIF's claim that a distinct set of latents carries the instruction (few SAE latents match a free "
            "distilled vector)",
            "SAIF: a distinct set of instruction-relevant SAE latents encodes instruction following",
            f"the ≤ {METHODS['distil_sae'].keep}-latent SAE vector matches the free one for {t.few} of "
            f"{len(t.matched)} instructions where the free one works; top 20 latents carry a median "
            f"{t.median_share} of its squared norm ({n})",
            tally(t.few, len(t.matched), question=True),
        ),
    ]


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
    glance=distil_glance,
    unshipped=("No distillation study has been shipped yet: run `python -m saif_ui distil-study`.", ""),
)
