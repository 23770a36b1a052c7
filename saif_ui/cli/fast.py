"""CLI commands of the FAST pipeline: `train-sae` (harvest, train, report, manifest) and `sae-report`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from saif_ui.cli.common import Command, emit, engine_args, engine_from_args
from saif_ui.cli.fields import add_dataclass_args, dataclass_values
from saif_ui.fast.config import HarvestConfig, PipelineConfig, TrainConfig


def _layers(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer numbers, got {text!r}") from None


TRAIN_FLAGS = ("layer", "arch", "d_sae", "tokens")
OPTIMISER_FLAGS = ("batch_size", "lr", "l1_coefficient", "target_l0", "k", "seed", "checkpoint_every")
HARVEST_FLAGS = ("max_len", "include_ifbench")
PIPELINE_FLAGS = ("resume", "eval_tokens")
RENAMED = {"l1_coefficient": "l1", "include_ifbench": "ifbench"}
"""Flags whose name is shorter than their config field's."""


def _train_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    add_dataclass_args(p, TrainConfig, TRAIN_FLAGS[:1])
    add_dataclass_args(p, HarvestConfig, ["method"])
    add_dataclass_args(p, TrainConfig, TRAIN_FLAGS[1:])
    p.add_argument("--harvest-tokens", type=int, help="activations to harvest (default: --tokens); fewer = epochs")
    p.add_argument("--harvest-layers", type=_layers, help="harvest these layers in the same pass, e.g. 8,15,24")
    add_dataclass_args(p, HarvestConfig, HARVEST_FLAGS, flags=RENAMED)
    add_dataclass_args(p, TrainConfig, OPTIMISER_FLAGS, flags=RENAMED)
    add_dataclass_args(p, PipelineConfig, PIPELINE_FLAGS)
    p.add_argument("--out", required=True, help="folder for the SAE (cfg.json, weights, report, manifest)")
    p.add_argument("--json", action="store_true")


def pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    """The pipeline the `train-sae` flags describe."""
    return PipelineConfig.of(
        TrainConfig(**dataclass_values(TrainConfig, args, TRAIN_FLAGS + OPTIMISER_FLAGS)),
        harvest_tokens=args.harvest_tokens,
        harvest_layers=args.harvest_layers or (),
        harvest=dataclass_values(HarvestConfig, args, ("method", *HARVEST_FLAGS)),
        **dataclass_values(PipelineConfig, args, PIPELINE_FLAGS),
    )


def cmd_train_sae(args: argparse.Namespace) -> int:
    from saif_ui.fast.pipeline import run_pipeline
    from saif_ui.provenance import git_commit

    commit = git_commit()  # at the start: the code that ran, whatever is edited during a long run
    args.saes = []  # harvesting reads the bare model
    engine = engine_from_args(args, warmup=False)
    manifest = run_pipeline(engine, pipeline_config(args), args.out, commit=commit)
    emit(
        args,
        manifest,
        _format_report(manifest["report"], f"{args.out} (layer {args.layer}, {args.method}, {args.arch})"),
    )
    return 0


def _format_report(r: dict[str, Any], title: str) -> str:
    lines = [title]
    for key in (
        "n_tokens",
        "mse",
        "log2_mse",
        "mse_st",
        "log2_mse_st",
        "explained_variance",
        "l0",
        "l0_special",
        "dead_fraction",
        "dense_fraction",
        "ce_clean",
        "ce_sae",
        "ce_zero",
        "delta_ce",
        "delta_lm_loss_percent",
        "loss_recovered",
    ):
        value = r.get(key)
        lines.append(f"  {key:<22} {value:.4f}" if isinstance(value, float) else f"  {key:<22} {value}")
    for label, latents in r.get("special_token_latents", {}).items():
        lines.append(
            f"  top latents on {label!r}: " + ", ".join(f"{x['id']} ({x['avg_max']:.1f})" for x in latents[:5])
        )
    return "\n".join(lines)


def _report_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("folder", help="an SAE folder (cfg.json + sae_weights.safetensors)")
    p.add_argument("--eval-tokens", type=int, help="held-out activations (default: 100,000)")
    p.add_argument("--max-len", type=int, default=1024)
    p.add_argument("--json", action="store_true")


def cmd_sae_report(args: argparse.Namespace) -> int:
    from saif_ui.engine.sae import check_source, hook_to_layer
    from saif_ui.fast.report import measure_folder

    folder = check_source(args.folder)
    if not isinstance(folder, Path):
        raise ValueError("sae-report needs a local SAE folder")
    layer = hook_to_layer(json.loads((folder / "cfg.json").read_text())["metadata"]["hook_name"])
    args.saes = []
    engine = engine_from_args(args, warmup=False)
    report = measure_folder(engine, folder, layer, args.eval_tokens, args.max_len)
    emit(args, report, _format_report(report, f"{folder} (layer {layer})"))
    return 0


def _curve_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("folder", nargs="+", help="shipped SAE folders with their manifest.json (weights are not touched)")
    p.add_argument("--harvest-layers", type=_layers, help="also store these layers in the harvest, e.g. 8,15,24,27")
    p.add_argument("--work", help="where the re-run trains, one folder only (default: <cache>/recipe_curves/<name>)")
    p.add_argument(
        "--table", action="store_true", help="run nothing: print the shipped vs re-run table of the curves on disk"
    )
    p.add_argument("--json", action="store_true")


def cmd_recipe_curve(args: argparse.Namespace) -> int:
    from saif_ui.fast.recipe_curve import pipeline_config_of, read_about, read_manifest, record_recipe_curve
    from saif_ui.fast.summary import rerun_table
    from saif_ui.provenance import command_line, git_commit

    folders = [Path(f) for f in args.folder]
    if args.table:
        abouts = {f.name: read_about(f) for f in folders}
        if missing := [name for name, about in abouts.items() if about is None]:
            raise ValueError(f"no recipe curve recorded for {', '.join(missing)}: run recipe-curve on it first")
        emit(args, abouts, rerun_table({k: v for k, v in abouts.items() if v is not None}))
        return 0
    if args.work and len(folders) > 1:
        raise ValueError("--work names one re-run's folder: give one SAE folder with it")
    for folder in folders:  # refuse a folder without its recipe before loading the model or training anything
        pipeline_config_of(read_manifest(folder))
    commit = git_commit()
    args.saes = []  # harvesting reads the bare model
    engine = engine_from_args(args, warmup=False)
    results, lines = {}, []
    for folder in folders:
        work = Path(args.work) if args.work else engine.config.cache_dir / "recipe_curves" / folder.name
        about = record_recipe_curve(
            engine, folder, work, commit=commit, command=command_line(), harvest_layers=tuple(args.harvest_layers or ())
        )
        results[folder.name] = about
        lines.append(f"{folder}: re-run curve of {about['steps']} steps in {about['seconds']} s")
    lines += ["", rerun_table(results)]
    emit(args, results, "\n".join(lines))
    return 0


COMMANDS: dict[str, Command] = {
    "train-sae": (
        "harvest activations (FAST or BT), train an SAE with sae-lens, report its quality",
        _train_args,
        cmd_train_sae,
    ),
    "sae-report": (
        "measure an SAE on the held-out chats: MSE, MSE_st, EV, L0, dead/dense, ΔCE",
        _report_args,
        cmd_sae_report,
    ),
    "recipe-curve": (
        "re-run a shipped SAE's recipe to record its training curve beside it (its weights stay as shipped)",
        _curve_args,
        cmd_recipe_curve,
    ),
}
