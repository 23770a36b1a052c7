"""SAIF Stage 1: rank the SAE latents that carry an instruction, with a disk cache keyed by every setting."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from saif_ui.engine import Engine
from saif_ui.engine.cache import digest, load_npz, sae_identity, save_npz
from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.scoring import (
    LatentStats,
    TokenTally,
    contrast,
    latent_flags,
    rank,
    reduce_prompt,
    select_positions,
)
from saif_ui.saif.inputs.catalogue import CUSTOM_CATEGORY, Instruction, load_catalogue
from saif_ui.saif.inputs.contents import Content, contents_version, load_contents
from saif_ui.saif.inputs.prompts import Pair, build_pairs
from saif_ui.saif.interpret.lens import logit_lens

STATS_VERSION = 1
"""Bump when the statistics change meaning, so old cache files are not reused."""
DEFAULT_CONFIG = DiscoveryConfig()


@dataclass(frozen=True)
class LatentRow:
    """One line of the ranked table."""

    id: int
    score: float
    freq_pos: float
    freq_neg: float
    mean_pos: float
    mean_neg: float
    t: float
    flags: list[str]
    logit_tokens: list[str]
    label: str = ""
    """What the latent reads, from its top contexts (`interpret.labels`); filled in by the app when the SAE has
    cards, "" otherwise."""


@dataclass
class DiscoveryResult:
    """Ranked latents of one SAE for one instruction; `latents` are unflagged, `flagged` ranked apart."""

    instruction: str
    instruction_texts: list[str]
    sae: str
    layer: int
    config: DiscoveryConfig
    n_pairs: int
    latents: list[LatentRow]
    flagged: list[LatentRow]
    stats: LatentStats | None = field(default=None, repr=False)
    """Every latent's statistics; None for a result read back from `to_dict()` (an import, a link, a session)."""
    cache_key: str = ""
    cached: bool = False
    seconds: float = 0.0

    @property
    def ids(self) -> list[int]:
        return [row.id for row in self.latents]

    def row(self, latent: int) -> LatentRow | None:
        """The ranked or flagged row of `latent`, if discovery listed it."""
        return next((r for r in [*self.latents, *self.flagged] if r.id == latent), None)

    def mean_act(self, latent: int) -> float | None:
        """The latent's mean activation on the positives: from the statistics of every latent when this result has
        them, else from its row (None when the latent was not listed)."""
        if self.stats is not None:
            if not 0 <= latent < self.stats.mean_pos.shape[0]:
                return None
            return float(self.stats.mean_pos[latent])
        row = self.row(latent)
        return row.mean_pos if row is not None else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiscoveryResult:
        """A result from `to_dict()` (without the per-latent statistics); a missing or mistyped field is a
        ValueError naming it."""
        try:
            cfg = DiscoveryConfig(
                placement=data["placement"],
                positions=data["positions"],
                score=data["score"],
                top_k=int(data["top_k"]),
            )
            rows = {
                kind: [LatentRow(**{k: r[k] for k in LatentRow.__dataclass_fields__ if k in r}) for r in data[kind]]
                for kind in ("latents", "flagged")
            }
            return cls(
                instruction=str(data["instruction"]),
                instruction_texts=[str(x) for x in data.get("instruction_texts", [])],
                sae=str(data["sae"]),
                layer=int(data["layer"]),
                config=cfg,
                n_pairs=int(data["n_pairs"]),
                latents=rows["latents"],
                flagged=rows["flagged"],
                cache_key=str(data.get("cache_key", "")),
                cached=bool(data.get("cached", False)),
                seconds=float(data.get("seconds", 0.0)),
            )
        except (KeyError, TypeError) as err:
            raise SaifError(f"not a discovery result: missing or malformed field {err}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "instruction": self.instruction,
            "instruction_texts": self.instruction_texts,
            "sae": self.sae,
            "layer": self.layer,
            "placement": self.config.placement,
            "positions": self.config.positions,
            "score": self.config.score,
            "top_k": self.config.top_k,
            "n_pairs": self.n_pairs,
            "latents": [asdict(r) for r in self.latents],
            "flagged": [asdict(r) for r in self.flagged],
            "cache_key": self.cache_key,
            "cached": self.cached,
            "seconds": round(self.seconds, 3),
        }


def resolve_instruction(instruction: Instruction | str) -> Instruction:
    """An `Instruction`, or a catalogue id (raises `UnknownInstructionError` listing the valid ids)."""
    return instruction if isinstance(instruction, Instruction) else load_catalogue().get(instruction)


def pick_contents(contents: Sequence[Content], n: int | None) -> list[Content]:
    """The first `n` contents, alternating kinds so statements and paragraphs are both represented."""
    by_kind: dict[str, list[Content]] = {}
    for c in contents:
        by_kind.setdefault(c.kind, []).append(c)
    mixed = [c for group in itertools.zip_longest(*by_kind.values()) for c in group if c is not None]
    return mixed if n is None else mixed[:n]


def make_pairs(engine: Engine, instruction: Instruction, cfg: DiscoveryConfig) -> list[Pair]:
    contents = pick_contents(load_contents(cfg.split), cfg.n_contents)
    return build_pairs(
        engine.chat,
        [(c.id, c.text) for c in contents],
        instruction.variants(),
        cfg.placement,
        system_prompt=cfg.system_prompt,
        cross=cfg.cross,
    )


def _settings(engine: Engine, instruction: Instruction, sae_name: str, cfg: DiscoveryConfig) -> dict[str, Any]:
    sae = engine.sae(sae_name)
    custom = instruction.category == CUSTOM_CATEGORY
    system = engine.chat.default_system_prompt if cfg.system_prompt is None else cfg.system_prompt
    return {
        "version": STATS_VERSION,
        "model": engine.loaded.model_id,
        "dtype": str(engine.loaded.dtype),
        **sae_identity(sae),
        "catalogue": None if custom else load_catalogue().version,
        "instruction": instruction.fingerprint,
        "contents": contents_version(cfg.split),
        "placement": cfg.placement,
        "positions": cfg.positions,
        "n_contents": cfg.n_contents,
        "split": cfg.split,
        "cross": cfg.cross,
        "system_prompt": system,
    }


def _collect(engine: Engine, pairs: list[Pair], names: list[str], cfg: DiscoveryConfig) -> dict[str, LatentStats]:
    """Encode every positive and (unique) negative once for all SAEs and reduce them to statistics."""
    negatives = list({p.negative.text: p.negative for p in pairs}.values())
    prompts = [(p.positive, True) for p in pairs] + [(n, False) for n in negatives]
    red: dict[str, dict[bool, tuple[list[torch.Tensor], list[torch.Tensor]]]] = {
        n: {True: ([], []), False: ([], [])} for n in names
    }
    tallies = {n: TokenTally.zeros(engine.sae(n).d_sae) for n in names}
    step = 2 * cfg.batch_pairs
    with tqdm(total=len(prompts), desc=f"discover {','.join(names)}", unit="prompt", leave=False) as bar:
        for start in range(0, len(prompts), step):
            chunk = prompts[start : start + step]
            encs = engine.encode([p.text for p, _ in chunk], saes=names, batch_size=step)
            for (prompt, positive), enc in zip(chunk, encs, strict=True):
                if enc.token_ids.tolist() != list(prompt.token_ids):
                    raise RuntimeError("the engine tokenised a prompt differently from the prompt builder")
                idx = select_positions(prompt, cfg.positions)
                for name in names:
                    mean, freq = reduce_prompt(enc.latents[name], idx)
                    red[name][positive][0].append(mean)
                    red[name][positive][1].append(freq)
                    tallies[name].add(enc.latents[name], enc.special_mask)
            bar.update(len(chunk))
    return {
        n: contrast(
            torch.stack(red[n][True][0]),
            torch.stack(red[n][True][1]),
            torch.stack(red[n][False][0]),
            torch.stack(red[n][False][1]),
            tallies[n],
        )
        for n in names
    }


def _result(
    engine: Engine, instruction: Instruction, name: str, stats: LatentStats, cfg: DiscoveryConfig
) -> DiscoveryResult:
    score = stats.score(cfg.score)
    clean, apart = rank(
        stats, cfg.score, cfg.top_k, dense_threshold=cfg.dense_threshold, special_threshold=cfg.special_threshold
    )
    sae = engine.sae(name)
    ids = clean + apart
    lens = logit_lens(engine, sae.sae.W_dec[ids], top_n=cfg.lens_tokens) if ids else []
    rows = {
        i: LatentRow(
            id=i,
            score=float(score[i]),
            freq_pos=float(stats.freq_pos[i]),
            freq_neg=float(stats.freq_neg[i]),
            mean_pos=float(stats.mean_pos[i]),
            mean_neg=float(stats.mean_neg[i]),
            t=float(stats.t[i]),
            flags=latent_flags(stats, i, cfg.dense_threshold, cfg.special_threshold),
            logit_tokens=[t.token for t in lens_row.promoted],
        )
        for i, lens_row in zip(ids, lens, strict=True)
    }
    return DiscoveryResult(
        instruction=instruction.id,
        instruction_texts=list(instruction.variants()),
        sae=name,
        layer=sae.layer,
        config=cfg,
        n_pairs=stats.n_pos,
        latents=[rows[i] for i in clean],
        flagged=[rows[i] for i in apart],
        stats=stats,
    )


def discover_many(
    engine: Engine,
    instruction: Instruction | str,
    sae_names: Sequence[str],
    cfg: DiscoveryConfig = DEFAULT_CONFIG,
    *,
    use_cache: bool = True,
) -> dict[str, DiscoveryResult]:
    """`discover` for several SAEs (e.g. at several layers) with one forward per batch for all of them."""
    instr = resolve_instruction(instruction)
    names = list(dict.fromkeys(sae_names))
    start = time.perf_counter()
    root = engine.config.cache_dir / "discovery"
    keys = {n: digest(_settings(engine, instr, n, cfg)) for n in names}
    stats: dict[str, LatentStats] = {}
    cached: set[str] = set()
    for n in names:
        hit = load_npz(root / f"{keys[n]}.npz") if use_cache else None
        if hit is not None:
            stats[n] = LatentStats.from_numpy(hit[0])
            cached.add(n)
    missing = [n for n in names if n not in stats]
    if missing:
        fresh = _collect(engine, make_pairs(engine, instr, cfg), missing, cfg)
        for n, s in fresh.items():
            settings = _settings(engine, instr, n, cfg)
            save_npz(root / f"{keys[n]}.npz", {k: np.asarray(v) for k, v in s.to_numpy().items()}, settings)
        stats.update(fresh)
    seconds = time.perf_counter() - start
    out = {}
    for n in names:
        result = _result(engine, instr, n, stats[n], cfg)
        result.cache_key, result.cached, result.seconds = keys[n], n in cached, seconds
        out[n] = result
    return out


def discover(
    engine: Engine,
    instruction: Instruction | str,
    sae_name: str,
    cfg: DiscoveryConfig | None = None,
    *,
    use_cache: bool = True,
    **overrides: Any,
) -> DiscoveryResult:
    """Rank the latents of SAE `sae_name` by how much the instruction switches them on (SAIF Stage 1).

    Args:
        instruction: an `Instruction` (e.g. `Instruction.custom([...])`) or a catalogue id such as `"french"`.
        sae_name: an SAE attached to the engine.
        cfg: settings; keyword `overrides` replace single fields, e.g. `placement="pre", top_k=10`.
        use_cache: read the disk cache (results are always written to it).

    Example:
        >>> result = discover(engine, "french", "L24_fast_topk64", top_k=10)
        >>> [(row.id, row.logit_tokens[:3]) for row in result.latents]
    """
    base = cfg or DiscoveryConfig()
    cfg = replace(base, **overrides) if overrides else base
    return discover_many(engine, instruction, [sae_name], cfg, use_cache=use_cache)[sae_name]
