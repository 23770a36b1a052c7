"""FAST vs block training (BT), at the same budget, with several seeds, evaluated on both formats.

FAST (Li et al. 2025) trains an instruct model's SAE on each conversation alone, through the chat template; BT packs
the same rendered stream into fixed blocks. For each seed, both are harvested (layer 15, the same number of
activations, position 0 excluded) and trained with the same architecture and hyper-parameters (`Settings`), then
measured on held-out chats in *both* formats:
- FAST-formatted (each held-out chat alone: how the model reads a conversation), with ΔCE;
- BT-formatted (the held-out stream in blocks), so BT is also judged on its own ground.
Beside the aggregate reports (FAST's MSE, MSE on special tokens, EV, L0, dead latents), each seed carries a paired
test on the same held-out sequences: Wilcoxon's signed-rank test (scipy) of the per-sequence MSE and MSE on special
tokens of the FAST SAE vs the BT SAE. The seed changes the SAE's initialisation and batch order; both seeds read
the same FAST and BT harvests (`HARVEST_SEED`). Trained SAEs stay in the cache (`<cache_dir>/fast_vs_bt/`); their
reports and manifests ship under docs/studies/fast_vs_bt/ with the study's key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.fast.config import HarvestConfig, TrainConfig
from saif_ui.fast.harvest import Harvest, harvest, harvest_dir
from saif_ui.fast.manifest import build_manifest
from saif_ui.fast.report import EVAL_TOKENS, evaluate_sae
from saif_ui.fast.train import train_sae
from saif_ui.provenance import git_commit
from saif_ui.saif.studies import shipped
from saif_ui.saif.studies.findings_fast_vs_bt import (
    FastVsBtResult,
    fast_vs_bt_claim,
    fast_vs_bt_glance,
    fast_vs_bt_section,
)
from saif_ui.saif.studies.shipped import Log, run_each
from saif_ui.saif.studies.study import Doc, Option, Study

NAME = "fast_vs_bt"
VERSION = 1
METHODS: tuple[Literal["fast", "bt"], ...] = ("fast", "bt")


@dataclass(frozen=True)
class Settings:
    """The shared budget and recipe (the shipped SAEs' architecture, at a budget two seeds of both fit in)."""

    layer: int = 15
    harvest_tokens: int = 300_000
    train_tokens: int = 600_000
    arch: str = "topk"
    k: int = 64
    d_sae: int = 4096
    lr: float = 3e-3
    batch_size: int = 4096
    max_len: int = 1024
    eval_tokens: int = EVAL_TOKENS


SEEDS = (0, 1)
HARVEST_SEED = 0
"""Every seed trains on the same two harvests (one FAST, one BT): a seed is the SAE's initialisation and the order
of its batches, as in SAE training generally, and a 2-core CPU harvests each budget once."""


def study_key(engine: Engine, settings: Settings, seed: int) -> dict[str, Any]:
    return shipped.study_key(
        NAME,
        VERSION,
        engine,
        catalogue=False,
        checkers=False,
        settings=asdict(settings),
        seed=seed,
        harvest_seed=HARVEST_SEED,
    )


def key_for(engine: Engine, item: str) -> dict[str, Any]:
    """The key a current shipped result for item `seed<N>` carries (the default settings)."""
    if not item.startswith("seed") or not item[4:].isdigit():
        raise SaifError(f"fast_vs_bt items are seed<N>, not {item!r}")
    return study_key(engine, Settings(), int(item[4:]))


def _harvest(engine: Engine, cfg: HarvestConfig) -> Harvest:
    return harvest(engine, cfg, harvest_dir(Path(engine.config.cache_dir), cfg, engine.loaded.model_id))


@torch.no_grad()
def per_sequence_errors(sae: Any, h: Harvest, layer: int, chunk: int = 8192) -> dict[str, np.ndarray]:
    """Per held-out sequence: mean squared error over all its tokens and over its special tokens (NaN when it has
    none), in sequence order (FAST averages per sequence first)."""
    acts = h.activations(layer)
    seq = np.asarray(h.sequence)
    special = np.asarray(h.special)
    err = np.empty(len(seq), dtype=np.float64)
    dtype = sae.W_enc.dtype
    for start in range(0, len(seq), chunk):
        x = torch.from_numpy(np.asarray(acts[start : start + chunk], dtype=np.float32))
        recon = sae.decode(sae.encode(x.to(dtype))).float()
        err[start : start + len(x)] = (recon - x).pow(2).mean(1).double().numpy()
    n_seq = int(seq.max()) + 1 if len(seq) else 0
    counts = np.bincount(seq, minlength=n_seq)
    sums = np.bincount(seq, weights=err, minlength=n_seq)
    st_counts = np.bincount(seq[special], minlength=n_seq)
    st_sums = np.bincount(seq[special], weights=err[special], minlength=n_seq)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"mse": sums / counts, "mse_st": st_sums / st_counts}


def paired_test(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Wilcoxon's signed-rank test of per-sequence errors `a` vs `b` (sequences where either is undefined dropped)."""
    from scipy.stats import wilcoxon

    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    res = wilcoxon(a, b)
    return {
        "n_sequences": int(keep.sum()),
        "a_lower": int((a < b).sum()),
        "median_ratio": round(float(np.median(a / b)), 4),
        "p": float(res.pvalue),
    }


def run_seed(engine: Engine, settings: Settings, seed: int, log: Log = print) -> dict[str, Any]:
    """Harvest, train and measure FAST and BT SAEs for one seed (uncached; `fast_vs_bt` ships it)."""
    from sae_lens import SAE

    commit = git_commit()
    layer = settings.layer
    evals = {
        fmt: _harvest(
            engine,
            HarvestConfig(
                layers=[layer],
                method=fmt,
                split="eval",
                tokens=settings.eval_tokens,
                max_len=settings.max_len,
                block_len=settings.max_len,
            ),
        )
        for fmt in METHODS
    }
    out: dict[str, Any] = {"seed": seed, "layer": layer, "saes": {}}
    errors: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for method in METHODS:
        log(f"{NAME}/seed{seed}: {method}: harvest and train")
        hcfg = HarvestConfig(
            layers=[layer],
            method=method,
            tokens=settings.harvest_tokens,
            max_len=settings.max_len,
            block_len=settings.max_len,
            seed=HARVEST_SEED,
        )
        train_h = _harvest(engine, hcfg)
        tcfg = TrainConfig(
            layer=layer,
            arch=settings.arch,  # type: ignore[arg-type]
            d_sae=settings.d_sae,
            tokens=settings.train_tokens,
            batch_size=settings.batch_size,
            lr=settings.lr,
            k=settings.k,
            checkpoint_every=50,
            seed=seed,
        )
        folder = Path(engine.config.cache_dir) / NAME / f"{method}_s{seed}"
        train_sae(train_h, tcfg, folder, resume=True, metadata={"saif_ui_method": method})
        sae = SAE.load_from_disk(folder, device="cpu", dtype="float32")
        reports = {
            "fast_format": evaluate_sae(sae, evals["fast"], layer, engine=engine).to_dict(),
            "bt_format": evaluate_sae(sae, evals["bt"], layer).to_dict(),
        }
        manifest = build_manifest(engine, folder, layer, method, train_h, False, reports["fast_format"], commit)
        manifest["report_bt_format"] = reports["bt_format"]
        out["saes"][method] = {"reports": reports, "manifest": manifest}
        errors[method] = {fmt: per_sequence_errors(sae, evals[fmt], layer) for fmt in METHODS}
    out["paired"] = {
        fmt: {
            metric: paired_test(errors["fast"][fmt][metric], errors["bt"][fmt][metric]) for metric in ("mse", "mse_st")
        }
        for fmt in METHODS
    }
    out["eval_harvests"] = {fmt: h.meta for fmt, h in evals.items()}
    return out


def fast_vs_bt(
    engine: Engine,
    settings: Settings = Settings(),
    seeds: tuple[int, ...] = SEEDS,
    *,
    force: bool = False,
    log: Log = print,
) -> dict[str, dict[str, Any]]:
    """Run (or read back) each seed's comparison; returns the shipped documents by item (`seed0`, ...)."""
    return run_each(
        NAME,
        seeds,
        lambda s: f"seed{s}",
        lambda s: study_key(engine, settings, s),
        lambda s: run_seed(engine, settings, s, log),
        force=force,
        log=log,
    )


def parse_seeds(text: str | None) -> tuple[int, ...]:
    """`--seeds`: comma-separated integers."""
    try:
        return tuple(int(s) for s in (text or "").split(",") if s.strip())
    except ValueError:
        raise SystemExit(f"--seeds must be comma-separated integers, not {text!r}") from None


def run_study(
    engine: Engine, seeds: tuple[int, ...] | None, /, *, force: bool = False, log: Log = print
) -> dict[str, dict[str, Any]]:
    """`fast_vs_bt` at the default settings, for `seeds` (None: `SEEDS`)."""
    return fast_vs_bt(engine, seeds=SEEDS if seeds is None else seeds, force=force, log=log)


def summary(item: str, doc: Doc) -> list[str]:
    r: FastVsBtResult = doc["result"]
    lines = []
    for method, block in r["saes"].items():
        f, b = block["reports"]["fast_format"], block["reports"]["bt_format"]
        lines.append(
            f"{item} {method}: FAST-format log2 MSE {f['log2_mse']:.3f}, MSE_st {f['log2_mse_st']:.3f}, EV "
            f"{f['explained_variance']:.3f}; BT-format log2 MSE {b['log2_mse']:.3f}, MSE_st {b['log2_mse_st']:.3f}"
        )
    return [*lines, f"{item}: paired {r['paired']} ({doc['seconds']:.0f} s)"]


STUDY = Study(
    name=NAME,
    version=VERSION,
    command="fast-vs-bt-study",
    help="FAST vs block training at the same budget, several seeds, measured on both formats; ships docs/studies/",
    key_for=key_for,
    run=run_study,
    summary=summary,
    order=70,
    option=Option("--seeds", "comma-separated seeds (default: 0,1)", parse_seeds, default="0,1"),
    bare_model=True,
    section=fast_vs_bt_section,
    claim=lambda docs: [fast_vs_bt_claim(docs)],
    glance=fast_vs_bt_glance,
    pending="FAST vs block training with two seeds",
    section_order=95,
)
