"""SAE training for the visitors of a shared server (the app's Train panel): the same pipeline as `train-sae`,
inside limits that keep one request's cost bounded, into a managed folder, attached for the visitor who asked.

Limits: a browser training reads at most `max_harvest_tokens` activations (a larger budget trains several epochs
over them) and at most `max_tokens` samples, with at most `max_d_sae` latents: on the 2-core machine the defaults
finish in a few minutes and the caps in well under an hour. The estimate shown before a run starts comes from the
rates below, measured on that machine (`python -m saif_ui train-sae` with the browser defaults; the command is in
`docs/FAST.md`), scaled by the work each phase does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.fast.config import Arch, Method, PipelineConfig, TrainConfig
from saif_ui.fast.harvest import find_harvest
from saif_ui.fast.monitor import Monitor
from saif_ui.fast.pipeline import check_config, run_pipeline
from saif_ui.provenance import git_commit
from saif_ui.service.shelf import SaeShelf


@dataclass(frozen=True)
class ServedLimits:
    """What one browser training may ask for."""

    max_tokens: int = 2_000_000
    """Most training samples one request may ask for; the token budget's lower bound is one batch."""
    max_harvest_tokens: int = 200_000
    """Most activations one request harvests; a larger budget trains epochs over them."""
    min_d_sae: int = 64
    max_d_sae: int = 8192
    """Bounds of the number of latents."""
    batch_size: int = 1024
    """The batch of every browser training (the defaults below take it, not a copy)."""
    eval_tokens: int = 20_000
    """Held-out tokens of the quality report."""
    max_len: int = 512
    """FAST truncation of a harvested conversation, in tokens."""


LIMITS = ServedLimits()
EPOCHS = 3
"""A browser training harvests a third of its budget and trains three epochs over it: harvesting costs a forward
per token, a training step a fraction of one, so this cuts a run's time by more than half for the same budget."""

DEFAULTS = PipelineConfig.of(
    TrainConfig(
        layer=8, arch="topk", d_sae=1024, k=32, target_l0=32.0, tokens=300_000, batch_size=LIMITS.batch_size, lr=3e-3,
        checkpoint_every=50,
    ),
    harvest_tokens=100_000,
    harvest={"max_len": LIMITS.max_len},
    eval_tokens=LIMITS.eval_tokens,
)  # fmt: skip
"""The Train panel's defaults: a TopK SAE (the shipped SAEs' architecture and learning rate) small enough to train
in a few minutes on 2 cores."""

# Rates of the 2-core machine, measured with the defaults above on 2026-12-02 (docs/FAST.md, "Training in the
# browser": harvest 61.9 s, training 30.5 s, report 63.8 s; 2 min 58 s with the model's start).
HARVEST_TOKENS_PER_S_FULL_DEPTH = 480.0
"""Harvested tokens per second if the forward ran every block (100,000 tokens to layer 8 of 30 in 61.9 s)."""
TRAIN_SAMPLE_LATENTS_PER_S = 1.0e7
"""Training samples × latents per second (300,000 samples × 1,024 latents in 30.5 s)."""
REPORT_S = 64.0
"""The report on the held-out chats (its harvest, MSE, L0, ΔCE) at the default evaluation budget."""


def configure(
    layer: int,
    method: str,
    arch: str,
    d_sae: int,
    sparsity: float,
    tokens: int,
    seed: int,
    n_layers: int,
    limits: ServedLimits = LIMITS,
) -> PipelineConfig:
    """The pipeline config of a browser request, or a SaifError saying which field is out of bounds and why."""
    if method not in ("fast", "bt"):
        raise SaifError(f"method must be fast or bt, not {method!r}")
    if arch not in ("topk", "jumprelu", "standard"):
        raise SaifError(f"architecture must be topk, jumprelu or standard, not {arch!r}")
    if not limits.min_d_sae <= d_sae <= limits.max_d_sae:
        raise SaifError(f"d_sae must be in {limits.min_d_sae}..{limits.max_d_sae} here, not {d_sae}")
    if not limits.batch_size <= tokens <= limits.max_tokens:
        raise SaifError(
            f"the token budget must be in {limits.batch_size:,}..{limits.max_tokens:,} here, not {tokens:,}"
        )
    if not 0 <= seed < 2**31:
        raise SaifError("the seed must be in 0..2147483647")
    sparse: dict[str, Any]
    if arch == "topk":
        if sparsity != int(sparsity) or not 1 <= sparsity <= d_sae:
            raise SaifError(f"TopK's k must be a whole number in 1..d_sae ({d_sae}), not {sparsity:g}")
        sparse = {"k": int(sparsity)}
    elif arch == "jumprelu":
        if not 1 <= sparsity <= d_sae:
            raise SaifError(f"JumpReLU's target L0 must be in 1..d_sae ({d_sae}), not {sparsity:g}")
        sparse = {"target_l0": float(sparsity)}
    else:
        if not 0 < sparsity <= 100:
            raise SaifError(f"Standard's L1 coefficient must be in (0, 100], not {sparsity:g}")
        sparse = {"l1_coefficient": float(sparsity)}
    # JumpReLU and Standard train at train-sae's (TrainConfig's) learning rate; TopK at the shipped SAEs' one.
    lr = DEFAULTS.train.lr if arch == "topk" else TrainConfig(layer=layer).lr
    arch_, method_ = cast(Arch, arch), cast(Method, method)  # checked above
    train = replace(DEFAULTS.train, layer=layer, arch=arch_, d_sae=d_sae, tokens=tokens, seed=seed, lr=lr, **sparse)
    harvest_tokens = min(max(tokens // EPOCHS, limits.batch_size), limits.max_harvest_tokens)
    harvest = replace(DEFAULTS.harvest, layers=[layer], method=method_, tokens=harvest_tokens, seed=seed)
    cfg = replace(DEFAULTS, train=train, harvest=harvest)
    check_config(cfg, n_layers)
    return cfg


def estimate_seconds(engine: Engine, cfg: PipelineConfig) -> float:
    """How long `cfg` should take on the 2-core machine: harvest (nothing when that harvest exists), training and
    report, from the measured rates scaled by the work of each."""
    hcfg = cfg.harvest
    harvested = find_harvest(engine.config.cache_dir, hcfg, engine.loaded.model_id) is not None
    depth = (max(hcfg.layers) + 1) / engine.n_layers
    harvest_s = 0.0 if harvested else hcfg.tokens * depth / HARVEST_TOKENS_PER_S_FULL_DEPTH
    train_s = cfg.train.steps * cfg.train.batch_size * cfg.train.d_sae / TRAIN_SAMPLE_LATENTS_PER_S
    return harvest_s + train_s + REPORT_S * (cfg.eval_tokens or LIMITS.eval_tokens) / LIMITS.eval_tokens


def folder_for(engine: Engine, session: str, cfg: PipelineConfig) -> Path:
    """The managed folder a visitor's training writes into (deleted with the SAE when the visitor leaves)."""
    digest = hashlib.sha256(
        json.dumps([session, {k: v for k, v in asdict(cfg).items() if k != "extra"}], sort_keys=True).encode()
    ).hexdigest()[:8]
    name = f"trained_{cfg.harvest.method}_L{cfg.layer}_{cfg.train.arch}{cfg.train.d_sae}_{digest}"
    return Path(engine.config.cache_dir) / "uploads" / name


def train_for(
    engine: Engine, shelf: SaeShelf, session: str, configs: list[PipelineConfig], monitor: Monitor
) -> list[dict[str, Any]]:
    """Run each config's pipeline in turn into its managed folder and attach the SAE for `session`; returns, per
    config, the attached name, folder, command and manifest. A stopped or failed run leaves nothing behind."""
    commit = git_commit()
    done: list[dict[str, Any]] = []
    for cfg in configs:
        folder = folder_for(engine, session, cfg)
        shutil.rmtree(folder, ignore_errors=True)  # a fresh run: the panel does not resume
        command = cfg.command(folder)
        try:
            manifest = run_pipeline(engine, cfg, folder, commit=commit, command=command, progress=False,
                                    monitor=monitor)  # fmt: skip
            name = shelf.attach_local(session, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        done.append({"name": name, "folder": str(folder), "command": command, "manifest": manifest})
    return done
