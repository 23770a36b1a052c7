"""CLI commands `distil` (train a steering vector by prompt distillation and read it through the SAE) and
`adopt-distilled` (let each recipe steer with the distilled vector that beat SAIF's spec on validation)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from saif_ui.cli.common import Command, emit, engine_args, engine_from_args
from saif_ui.cli.fields import add_dataclass_args, dataclass_values
from saif_ui.engine.errors import SaifError
from saif_ui.saif.distil.config import DistilConfig

FLAGS = (
    "layer",
    "basis",
    "objective",
    "positions",
    "n_train",
    "steps",
    "lr",
    "max_norm",
    "candidates",
    "keep",
    "l1",
    "refit_steps",
    "eval_every",
    "n_val",
    "patience",
    "seed",
)


def _args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--instruction", required=True, help="catalogue id, e.g. french (see `instructions`)")
    add_dataclass_args(p, DistilConfig, FLAGS)
    p.add_argument("--out", type=Path, help="save the vector here (vector.safetensors + manifest.json)")
    p.add_argument("--json", action="store_true")


def cmd_distil(args: argparse.Namespace) -> int:
    import sys

    from saif_ui.saif.distil.reading import read_distilled
    from saif_ui.saif.distil.store import save_distilled
    from saif_ui.saif.distil.train import distil

    cfg = DistilConfig(**dataclass_values(DistilConfig, args, FLAGS))
    engine = engine_from_args(args)
    say = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    trained = distil(engine, args.instruction, cfg, log=say)
    reading = read_distilled(engine, trained)
    data: dict[str, Any] = {
        **trained.summary(),
        "checks": [vars(c) for c in trained.checks],
        "spec": trained.spec().to_dict(),
        "reading": reading.to_dict() if reading else None,
    }
    if args.out:
        save_distilled(trained, args.out, {"reading": data["reading"]})
        data["saved"] = str(args.out)
    emit(args, data, _text(data))
    return 0


def _text(d: dict[str, Any]) -> str:
    lines = [
        f"{d['instruction']}: {d['basis']} vector at layer {d['layer']} ({d['objective']}), norm {d['norm']}, "
        f"best step {d['best_step']}, {d['seconds']} s"
    ]
    v = d.get("validation")
    if v:
        lines.append(
            f"validation (n={v['n']}): success {v['successes']}, fluent strict {v['fluent']}, strict {v['strict']}"
        )
    r = d.get("reading")
    if r:
        lines.append(
            f"in {r['sae']}: {r['nonzero']} latents (fit R² {r['fit_r2']}); top 5/10/20 carry "
            + "/".join(f"{r['share'][k]:.0%}" for k in ("5", "10", "20"))
            + f" of the squared coefficients; SAIF overlap {r['saif_overlap'].get('shared')}"
        )
        for i, c, label in zip(r["latents"][:10], r["coefficients"][:10], r["labels"][:10], strict=False):
            lines.append(f"  latent {i:>5}  {c:+8.3f}  {label}")
        for e in r["effect"]:
            lines.append(
                f"effect at {e['sae']}: cosine with the prompt's change {e['cosine']}, "
                f"top-{e['k']} overlap {e['top_overlap']}"
            )
    if d.get("saved"):
        lines.append(f"saved to {d['saved']}")
    return "\n".join(lines)


def _adopt_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument(
        "--instructions", help="comma-separated catalogue ids (default: every instruction with a shipped distil study)"
    )
    p.add_argument("--write", action="store_true", help="save the choice into assets/recipes.json")
    p.add_argument("--json", action="store_true")


def cmd_adopt_distilled(args: argparse.Namespace) -> int:
    """Compare SAIF's recipe with the distilled vectors on the validation stage contents (figures the distil study
    shipped; nothing is rerun) and, with --write, record the winner as each recipe's applied method."""
    from dataclasses import replace

    from saif_ui.saif.steering.recipe import load_recipes, save_recipe
    from saif_ui.saif.studies import distil_study
    from saif_ui.saif.studies.shipped import is_current, load_shipped

    recipes = load_recipes()
    wanted = [i.strip() for i in (args.instructions or "").split(",") if i.strip()]
    ids = wanted or [iid for iid in sorted(recipes) if load_shipped(distil_study.NAME, iid) is not None]
    engine = engine_from_args(args)
    out: dict[str, Any] = {}
    for iid in ids:
        doc = load_shipped(distil_study.NAME, iid)
        if iid not in recipes or doc is None:
            raise SaifError(f"{iid}: needs a recipe and a shipped distil study (python -m saif_ui distil-study)")
        if not is_current(doc, distil_study.STUDY.key_for(engine, iid)):
            raise SaifError(f"{iid}: the shipped distil study is stale; rerun `python -m saif_ui distil-study`")
        recipe = recipes[iid]
        winner, figures = distil_study.validation_choice(recipe, doc)
        adopted = distil_study.adoption(engine, recipe, doc)
        if adopted is not None:
            adopted = replace(
                adopted,
                provenance={
                    **adopted.provenance,
                    "command": f"python -m saif_ui adopt-distilled --instructions {iid} --write",
                },
            )
        out[iid] = {"chosen": winner, "validation": figures}
        if args.write:
            save_recipe(replace(recipe, adopted=adopted))
            out[iid]["written"] = True
    lines = []
    for iid, d in out.items():
        figs = ", ".join(
            f"{m} {c['successes']}/{c['n']} (fluent strict {c['fluent']})" for m, c in d["validation"].items()
        )
        lines.append(f"{iid}: chosen {d['chosen']} on validation: {figs}" + (" — written" if d.get("written") else ""))
    emit(args, out, "\n".join(lines))
    return 0


COMMANDS: dict[str, Command] = {
    "adopt-distilled": (
        "let each recipe steer with the distilled vector that beat SAIF's spec on validation (figures of the "
        "shipped distil study)",
        _adopt_args,
        cmd_adopt_distilled,
    ),
    "distil": (
        "train a steering vector that makes the model do unprompted what it does when told (prompt distillation)",
        _args,
        cmd_distil,
    ),
}
