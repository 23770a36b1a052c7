"""FAST's special-token steering, measured: does adding a special-token latent change answers beyond "it changed"?

FAST reports, qualitatively, that a moderate α of a latent firing on chat-template tokens gives more polite,
structured answers and a large α degrades them. Here, on test contents answered without any instruction, each shipped
SAE's strongest special-token latent (its quality report's table) is added at FAST's α grid, beside a random latent
of the same SAE at the same α (both unit directions, so the same norm). Each answer is scored on stated, deterministic
measures:
- `structured`: a list or a heading (at least two lines that start with a list marker, or a markdown heading);
- `polite`: a word of a small politeness lexicon (`POLITE`);
- `loop`: degeneration above the repetition limit (the answer repeats itself);
- `changed`: the text differs from the unsteered answer; and `words`, its length.
Rates carry 95 % Wilson intervals; special vs random at each α a McNemar exact test on the same contents.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.saif.discovery.discover import pick_contents
from saif_ui.saif.inputs.contents import Content, load_contents
from saif_ui.saif.inputs.prompts import build_prompt
from saif_ui.saif.judge.fluency import degeneration
from saif_ui.saif.judge.stats import mcnemar_exact, wilson_interval
from saif_ui.saif.steering.evaluate import REPETITION_LIMIT
from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent
from saif_ui.saif.steering.special import PAPER_ALPHAS, default_special_latent, special_latents
from saif_ui.saif.studies import shipped
from saif_ui.saif.studies.findings_special import (
    MEASURES,
    SpecialResult,
    special_claim,
    special_glance,
    special_section,
)
from saif_ui.saif.studies.shipped import Log, run_each, sae_key
from saif_ui.saif.studies.study import Doc, Study

NAME = "special"
VERSION = 1
SEED = 0
N_CONTENTS = 24
DECODING = Decoding(max_new_tokens=48)
POLITE = frozenset(
    [
        "please",
        "thank",
        "thanks",
        "glad",
        "happy",
        "sorry",
        "hope",
        "certainly",
        "welcome",
        "appreciate",
        "kindly",
        "delighted",
        "pleasure",
    ]
)
_LIST_LINE = re.compile(r"^\s*(?:[-*•+]\s|\d+[.)]\s|#{1,6}\s)")
_WORD = re.compile(r"[a-zA-Z']+")


def measures(text: str, unsteered: str) -> dict[str, Any]:
    """The stated measures of one answer (see the module docstring)."""
    lines = [line for line in text.splitlines() if line.strip()]
    words = _WORD.findall(text.casefold())
    heading = any(line.lstrip().startswith("#") for line in lines)
    return {
        "structured": heading or sum(bool(_LIST_LINE.match(line)) for line in lines) >= 2,
        "polite": any(w in POLITE for w in words),
        "loop": degeneration(text) > REPETITION_LIMIT,
        "changed": text.strip() != unsteered.strip(),
        "words": len(text.split()),
    }


def key_for(engine: Engine, sae: str) -> dict[str, Any]:
    """The key a current shipped result for SAE `sae` carries."""
    return study_key(engine, sae)


def study_key(engine: Engine, sae: str) -> dict[str, Any]:
    return shipped.study_key(
        NAME,
        VERSION,
        engine,
        ("test",),
        catalogue=False,
        checkers=False,
        sae=sae_key(engine, sae),
        special_table=special_latents(engine, sae),
        n_contents=N_CONTENTS,
        alphas=list(PAPER_ALPHAS),
        decoding={"max_new_tokens": DECODING.max_new_tokens},
        repetition_limit=REPETITION_LIMIT,
        seed=SEED,
    )


def _random_latent(engine: Engine, sae: str, avoid: set[int]) -> int:
    rng = np.random.default_rng(SEED)
    pool = [i for i in range(engine.sae(sae).d_sae) if i not in avoid]
    return int(rng.choice(pool))


def run_sae(
    engine: Engine,
    sae: str,
    contents: list[Content] | None = None,
    log: Log = print,
    decoding: Decoding = DECODING,
) -> dict[str, Any]:
    """The study for one SAE (uncached; `special_study` ships it); smaller `contents` / `decoding` for checks."""
    chosen = contents if contents is not None else pick_contents(load_contents("test"), N_CONTENTS)
    latent, token = default_special_latent(engine, sae)
    special_ids = {int(r["id"]) for rows in special_latents(engine, sae).values() for r in rows}
    control = _random_latent(engine, sae, special_ids | {latent})
    layer = engine.sae(sae).layer
    prompts = [build_prompt(engine.chat, c.text, None, "none").text for c in chosen]

    def answers(spec: SteeringSpec | None) -> list[str]:
        steering = spec.steerings(engine) if spec is not None else []
        gens = engine.generate(prompts, steering, decoding=decoding)
        return [g.text for g in gens]

    plain = answers(None)
    rows = []
    for alpha in PAPER_ALPHAS:
        log(f"{NAME}/{sae}: α = {alpha:g}")
        row: dict[str, Any] = {"alpha": alpha}
        verdicts: dict[str, list[dict[str, Any]]] = {}
        for name, which in (("special", latent), ("random", control)):
            spec = SteeringSpec(latents=(SteerLatent(sae, layer, which),), alpha=alpha, scale="unit")
            texts = plain if alpha == 0 else answers(spec)
            scored = [measures(t, p) for t, p in zip(texts, plain, strict=True)]
            verdicts[name] = scored
            block: dict[str, Any] = {"n": len(scored), "texts": texts}
            for m in MEASURES:
                k = sum(bool(s[m]) for s in scored)
                block[m] = {"rate": k / len(scored), "ci": list(wilson_interval(k, len(scored)))}
            block["words"] = round(statistics.fmean(s["words"] for s in scored), 2)
            row[name] = block
        row["paired"] = {
            m: mcnemar_exact([bool(s[m]) for s in verdicts["special"]], [bool(s[m]) for s in verdicts["random"]]).p
            for m in MEASURES
        }
        rows.append(row)
    return {
        "sae": sae,
        "layer": layer,
        "latent": latent,
        "token": token,
        "random_latent": control,
        "contents": [c.id for c in chosen],
        "rows": rows,
    }


def special_study(
    engine: Engine, saes: Sequence[str] | None = None, *, force: bool = False, log: Log = print
) -> dict[str, dict[str, Any]]:
    """Run (or read back) the study for each attached SAE with a special-token report."""

    def reported() -> Iterator[str]:
        for sae in saes or engine.sae_names():
            if special_latents(engine, sae):
                yield sae
            else:
                log(f"{NAME}/{sae}: no special-token report, skipped")

    return run_each(
        NAME,
        reported(),
        lambda sae: sae,
        lambda sae: study_key(engine, sae),
        lambda sae: run_sae(engine, sae, log=log),
        force=force,
        log=log,
    )


def summary(sae: str, doc: Doc) -> list[str]:
    r: SpecialResult = doc["result"]
    return [f"{sae}: latent {r['latent']} ({r['token']!r}) vs random {r['random_latent']} ({doc['seconds']:.0f} s)"]


STUDY = Study(
    name=NAME,
    version=VERSION,
    command="special-study",
    help="FAST's special-token steering measured (structure, politeness, loops, length) against a random latent",
    key_for=key_for,
    run=special_study,
    summary=summary,
    order=30,
    option=None,
    section=special_section,
    claim=lambda docs: [special_claim(docs)],
    glance=special_glance,
)
