"""SAE quality on held-out chats, as FAST reports it (MSE, MSE on special tokens, log2), plus EV, L0, ΔCE."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from saif_ui.fast.harvest import Harvest

if TYPE_CHECKING:
    from sae_lens import SAE

    from saif_ui.engine import Engine

DENSE_FREQUENCY = 0.1
"""A latent active on more than 10% of tokens is 'dense' (it behaves like a bias, not a feature)."""


@dataclass
class QualityReport:
    """Reconstruction and sparsity of one SAE on a held-out harvest, and its effect on the model's loss."""

    n_tokens: int
    n_sequences: int
    mse: float
    """FAST's MSE: squared error averaged over dims and tokens of each sequence, then over sequences."""
    mse_st: float
    """The same on special tokens only (chat markers and role words)."""
    log2_mse: float
    log2_mse_st: float
    explained_variance: float
    l0: float
    """Mean number of active latents per token."""
    l0_special: float
    dead_fraction: float
    """Latents never active on the held-out tokens."""
    dense_fraction: float
    ce_clean: float | None = None
    ce_sae: float | None = None
    ce_zero: float | None = None
    delta_ce: float | None = None
    """ce_sae - ce_clean (nats per token)."""
    delta_lm_loss_percent: float | None = None
    """100 * delta_ce / ce_clean, FAST's ΔLM-loss."""
    loss_recovered: float | None = None
    """(ce_zero - ce_sae) / (ce_zero - ce_clean): 1 is perfect, 0 no better than zero-ablating the layer."""
    special_token_latents: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    """Per special token: top latents by average max activation (FAST's choice for special-token steering)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _per_sequence_mean(values: np.ndarray, seq: np.ndarray, where: np.ndarray) -> float:
    """Mean over sequences of the per-sequence mean of `values[where]` (sequences with no such token are skipped)."""
    v, s = values[where], seq[where]
    if v.size == 0:
        return float("nan")
    sums = np.bincount(s, weights=v)
    counts = np.bincount(s)
    ok = counts > 0
    return float((sums[ok] / counts[ok]).mean())


def _role_labels(harvest: Harvest, tokenizer: Any) -> np.ndarray:
    """A label per special token: the marker itself (`<|im_start|>`, `<|im_end|>`) or the role word it belongs to
    (`user`, `assistant`, `system`; SmolLM2 splits assistant into `ass` + `istant`, both labelled assistant)."""
    labels = np.full(harvest.n_tokens, "", dtype=object)
    special, ids, seq = np.asarray(harvest.special), np.asarray(harvest.token_ids), np.asarray(harvest.sequence)
    markers = {int(i) for i in tokenizer.all_special_ids}
    i = 0
    while i < len(ids):
        if not special[i]:
            i += 1
            continue
        if int(ids[i]) in markers:
            labels[i] = str(tokenizer.convert_ids_to_tokens(int(ids[i])))
            i += 1
            continue
        j = i
        while j < len(ids) and special[j] and int(ids[j]) not in markers and seq[j] == seq[i]:
            j += 1
        labels[i:j] = str(tokenizer.decode([int(t) for t in ids[i:j]])).strip()
        i = j
    return labels


@torch.no_grad()
def evaluate_sae(
    sae: SAE,
    harvest: Harvest,
    layer: int,
    *,
    engine: Engine | None = None,
    n_ce_sequences: int = 24,
    ce_max_len: int = 256,
    chunk: int = 8192,
    top_special: int = 10,
) -> QualityReport:
    """Measure `sae` on the held-out `harvest` of `layer`; with `engine`, also ΔCE on held-out sequences.

    Position 0 is absent from harvests and left unspliced in ΔCE (see `hooks.splice`).
    """
    acts = harvest.activations(layer)
    n, d_sae = acts.shape[0], int(sae.cfg.d_sae)
    sq_err = np.empty(n, dtype=np.float64)
    l0 = np.empty(n, dtype=np.float64)
    fired = torch.zeros(d_sae, dtype=torch.float64)
    err_total, var_total = 0.0, 0.0
    mean = torch.from_numpy(np.asarray(acts[: min(n, 200_000)], dtype=np.float32)).mean(0)
    special = np.asarray(harvest.special)
    labels = _role_labels(harvest, engine.tokenizer) if engine is not None else None
    seq = np.asarray(harvest.sequence)
    max_act: dict[str, torch.Tensor] = {}
    dtype = sae.W_enc.dtype
    for start in range(0, n, chunk):
        x = torch.from_numpy(np.asarray(acts[start : start + chunk], dtype=np.float32))
        z = sae.encode(x.to(dtype))
        recon = sae.decode(z).float()
        diff = (recon - x).pow(2)
        sq_err[start : start + len(x)] = diff.mean(1).double().numpy()
        l0[start : start + len(x)] = (z > 0).sum(1).double().numpy()
        fired += (z > 0).sum(0).double()
        err_total += float(diff.sum())
        var_total += float((x - mean).pow(2).sum())
        if labels is not None:
            _update_special_max(max_act, z.float(), labels[start : start + len(x)], seq[start : start + len(x)])
    freq = fired / n
    report = QualityReport(
        n_tokens=n,
        n_sequences=int(seq.max()) + 1 if n else 0,
        mse=_per_sequence_mean(sq_err, seq, np.ones(n, dtype=bool)),
        mse_st=_per_sequence_mean(sq_err, seq, special),
        log2_mse=0.0,
        log2_mse_st=0.0,
        explained_variance=1.0 - err_total / var_total,
        l0=float(l0.mean()),
        l0_special=float(l0[special].mean()) if special.any() else float("nan"),
        dead_fraction=float((freq == 0).double().mean()),
        dense_fraction=float((freq > DENSE_FREQUENCY).double().mean()),
    )
    report.log2_mse, report.log2_mse_st = math.log2(report.mse), math.log2(report.mse_st)
    if labels is not None:
        report.special_token_latents = _top_special(max_act, top_special)
    if engine is not None:
        _delta_ce(report, sae, harvest, layer, engine, n_ce_sequences, ce_max_len)
    return report


def _update_special_max(store: dict[str, torch.Tensor], z: torch.Tensor, labels: np.ndarray, seq: np.ndarray) -> None:
    """Accumulate, per special-token label, each sequence's max activation of every latent (summed, with a count)."""
    for label in {str(x) for x in labels if x}:
        where = labels == label
        for s in np.unique(seq[where]):
            rows = torch.from_numpy(np.nonzero(where & (seq == s))[0])
            best = z[rows].max(0).values
            acc = store.setdefault(label, torch.zeros(z.shape[1] + 1, dtype=torch.float64))
            acc[:-1] += best.double()
            acc[-1] += 1  # how many (sequence, chunk) maxima were added


def _top_special(store: dict[str, torch.Tensor], k: int) -> dict[str, list[dict[str, float]]]:
    out = {}
    for label, acc in sorted(store.items()):
        # Ranked by the value as reported (3 decimals), ties by id: `topk` leaves the order of equal values
        # unspecified, and float noise between CPUs would reorder values that print the same.
        avg = torch.round(acc[:-1] / acc[-1], decimals=3)
        idx = torch.sort(-avg, stable=True).indices[:k]
        out[label] = [{"id": int(i), "avg_max": float(avg[i])} for i in idx.tolist() if avg[i] > 0]
    return out


def _delta_ce(
    report: QualityReport, sae: SAE, harvest: Harvest, layer: int, engine: Engine, n_seq: int, max_len: int
) -> None:
    """Loss with the SAE reconstruction spliced in vs clean and vs zero-ablation, on held-out conversations."""
    from saif_ui.fast.config import HarvestConfig
    from saif_ui.fast.harvest import conversations_for, sequences_for

    cfg = HarvestConfig(
        layers=[layer],
        method="fast",
        split="eval",
        tokens=n_seq * max_len,
        max_len=max_len,
        seed=int(harvest.meta["config"]["seed"]),
    )
    seqs = [torch.tensor(s.token_ids) for s in sequences_for(engine, cfg, conversations_for(cfg))][:n_seq]
    dtype = sae.W_enc.dtype

    def reconstruct(h: torch.Tensor) -> torch.Tensor:
        return sae.decode(sae.encode(h.to(dtype))).to(h.dtype)

    clean = engine.lm_loss(seqs).mean().item()
    spliced = engine.lm_loss(seqs, layer, reconstruct).mean().item()
    zero = engine.lm_loss(seqs, layer, torch.zeros_like).mean().item()
    report.ce_clean, report.ce_sae, report.ce_zero = clean, spliced, zero
    report.delta_ce = spliced - clean
    report.delta_lm_loss_percent = 100 * (spliced - clean) / clean
    report.loss_recovered = (zero - spliced) / (zero - clean) if zero != clean else float("nan")


def write_report(report: QualityReport, folder: str | Path) -> Path:
    path = Path(folder) / "report.json"
    path.write_text(json.dumps(report.to_dict(), indent=2))
    return path


CHECK_TOKENS = 4000
CHECK_MAX_LEN = 256


def check_sample(engine: Engine, layers: list[int], cache_dir: str | Path) -> Harvest:
    """A small fixed held-out harvest (the first held-out chats, truncated) on which each shipped SAE's explained
    variance is recorded in its manifest, so a test can recompute it in seconds and compare tightly."""
    from saif_ui.fast.config import HarvestConfig
    from saif_ui.fast.harvest import harvest, harvest_dir

    cfg = HarvestConfig(
        layers=layers, method="fast", split="eval", tokens=CHECK_TOKENS, max_len=CHECK_MAX_LEN, batch_tokens=4096
    )
    return harvest(engine, cfg, harvest_dir(Path(cache_dir), cfg, engine.loaded.model_id), progress=False)


@torch.no_grad()
def explained_variance(sae: SAE, harvest: Harvest, layer: int) -> float:
    x = torch.from_numpy(np.asarray(harvest.activations(layer), dtype=np.float32))
    recon = sae.decode(sae.encode(x.to(sae.W_enc.dtype))).float()
    return float(1 - (recon - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


EVAL_TOKENS = 100_000
"""Held-out activations for reports: enough for stable MSE/EV/L0 and thousands of special tokens."""


def measure_folder(
    engine: Engine, folder: str | Path, layer: int, eval_tokens: int | None = None, max_len: int = 1024
) -> dict[str, Any]:
    """Measure the SAE saved in `folder` on `eval_tokens` held-out FAST activations (written beside it as
    report.json) plus the explained variance on the small fixed check sample; returns both as one dict."""
    eval_tokens = eval_tokens or EVAL_TOKENS
    folder = Path(folder)
    from sae_lens import SAE

    from saif_ui.fast.config import HarvestConfig
    from saif_ui.fast.harvest import harvest, harvest_dir

    # The held-out harvest is FAST-formatted for every SAE, BT ones included: that is how the model reads chats.
    ecfg = HarvestConfig(layers=[layer], method="fast", split="eval", tokens=eval_tokens, max_len=max_len)
    eval_h = harvest(engine, ecfg, harvest_dir(engine.config.cache_dir, ecfg, engine.loaded.model_id))
    sae = SAE.load_from_disk(folder, device="cpu", dtype="float32")
    report = evaluate_sae(sae, eval_h, layer, engine=engine)
    write_report(report, folder)
    check = check_sample(engine, [layer], engine.config.cache_dir)
    return {
        **report.to_dict(),
        "check_sample": {
            "tokens": CHECK_TOKENS,
            "max_len": CHECK_MAX_LEN,
            "explained_variance": round(explained_variance(sae, check, layer), 6),
        },
    }
