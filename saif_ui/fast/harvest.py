"""Harvest residual activations for SAE training: FAST or BT sequences, several layers per forward, fp16 memmaps."""

from __future__ import annotations

import functools
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.fast.config import HarvestConfig
from saif_ui.fast.data import Conversation, DataConfig, PreparedData, build_dataset
from saif_ui.fast.monitor import Monitor, tick
from saif_ui.fast.sources import Sequence, block_sequences, fast_sequences

log = logging.getLogger(__name__)
META = "meta.json"


@dataclass
class Harvest:
    """A finished harvest on disk: per-layer fp16 activations [N, d] plus per-token facts, memory-mapped."""

    path: Path
    meta: dict[str, Any]
    special: np.ndarray = field(repr=False)
    """[N] bool: the token is a special token (chat markers, role words)."""
    token_ids: np.ndarray = field(repr=False)
    """[N] int32."""
    sequence: np.ndarray = field(repr=False)
    """[N] int32: which harvested sequence the token came from (MSE is averaged per sequence, as in FAST)."""

    @property
    def n_tokens(self) -> int:
        return int(self.meta["n_tokens"])

    @property
    def layers(self) -> list[int]:
        return [int(x) for x in self.meta["config"]["layers"]]

    def activations(self, layer: int) -> np.ndarray:
        """[N, d_model] fp16 memmap of one layer."""
        if layer not in self.layers:
            raise SaifError(f"layer {layer} was not harvested in {self.path}; harvested: {self.layers}")
        return np.load(self.path / f"L{layer}.npy", mmap_mode="r")[: self.n_tokens]

    @classmethod
    def open(cls, path: str | Path) -> Harvest:
        path = Path(path)
        if not (path / META).is_file():
            raise FileNotFoundError(f"{path} is not a finished harvest (no {META})")
        meta = json.loads((path / META).read_text())
        n = int(meta["n_tokens"])
        return cls(
            path=path,
            meta=meta,
            special=np.load(path / "special.npy", mmap_mode="r")[:n],
            token_ids=np.load(path / "token_ids.npy", mmap_mode="r")[:n],
            sequence=np.load(path / "sequence.npy", mmap_mode="r")[:n],
        )


def harvest_dir(cache_dir: Path, cfg: HarvestConfig, model_id: str) -> Path:
    """Where a harvest with these settings lives: every setting is in the name, so a finished one is reused.
    A finished harvest with the same settings and more layers serves too (see `find_harvest`)."""
    found = find_harvest(cache_dir, cfg, model_id)
    return found if found is not None else _dir_name(cache_dir, cfg, model_id)


def find_harvest(cache_dir: Path, cfg: HarvestConfig, model_id: str) -> Path | None:
    """A finished harvest whose settings equal `cfg`'s except that its layers include `cfg.layers`."""
    exact = _dir_name(cache_dir, cfg, model_id)
    if (exact / META).is_file():
        return exact
    for meta_path in sorted(exact.parent.glob(f"*/{META}")):
        other = json.loads(meta_path.read_text()).get("config", {})
        same = {k: v for k, v in asdict(cfg).items() if k != "layers"} == {
            k: v for k, v in other.items() if k != "layers"
        }
        if same and set(cfg.layers) <= set(other.get("layers", [])):
            return meta_path.parent
    return None


def _dir_name(cache_dir: Path, cfg: HarvestConfig, model_id: str) -> Path:
    model = model_id.replace("/", "--").replace(":", "-")
    layers = "-".join(str(x) for x in cfg.layers)
    length = cfg.max_len if cfg.method == "fast" else cfg.block_len
    mix = "-ifbench" if cfg.include_ifbench else ""
    name = f"{cfg.method}-{cfg.split}-{cfg.tokens}-L{layers}-len{length}-seed{cfg.seed}{mix}"
    return Path(cache_dir) / "harvests" / model / name


@functools.lru_cache(maxsize=2)
def default_dataset(include_ifbench: bool = False) -> PreparedData:
    """The default cleaned ShareGPT split, built once per process (~6 s): harvest, report and manifest all read it."""
    return build_dataset(DataConfig(include_ifbench=include_ifbench))


def conversations_for(cfg: HarvestConfig) -> list[Conversation]:
    data = default_dataset(cfg.include_ifbench)
    return data.train if cfg.split == "train" else data.eval


def sequences_for(engine: Engine, cfg: HarvestConfig, conversations: Iterable[Conversation]) -> Iterator[Sequence]:
    """The FAST or BT token stream, rendered with the engine's chat template as the model reads chats."""

    def render(messages: list[dict[str, str]]) -> str:
        return engine.chat.render(messages, add_generation_prompt=False)

    if cfg.method == "fast":
        return fast_sequences(
            conversations, render, engine.chat.tokenize, token_budget=cfg.tokens, max_len=cfg.max_len, seed=cfg.seed
        )
    return block_sequences(
        conversations, render, engine.chat.tokenize, token_budget=cfg.tokens, block_len=cfg.block_len, seed=cfg.seed
    )


def _batches(sequences: Iterator[Sequence], batch_tokens: int, window: int = 64) -> Iterator[list[Sequence]]:
    """Group sequences into forwards of at most `batch_tokens` padded tokens; sorting each window of sequences by
    length keeps padding (wasted compute) low. Order does not matter: training shuffles every token."""
    buf: list[Sequence] = []

    def flush(items: list[Sequence]) -> Iterator[list[Sequence]]:
        batch: list[Sequence] = []
        for s in sorted(items, key=lambda s: len(s.token_ids)):
            longest = max([len(s.token_ids), *(len(b.token_ids) for b in batch)])
            if batch and longest * (len(batch) + 1) > batch_tokens:
                yield batch
                batch = []
            batch.append(s)
        if batch:
            yield batch

    for s in sequences:
        buf.append(s)
        if len(buf) == window:
            yield from flush(buf)
            buf = []
    yield from flush(buf)


def harvest(
    engine: Engine,
    cfg: HarvestConfig,
    out: str | Path,
    *,
    conversations: list[Conversation] | None = None,
    progress: bool = True,
    monitor: Monitor | None = None,
) -> Harvest:
    """Run the model over FAST or BT sequences and store the residuals of `cfg.layers`, position 0 excluded.

    Position 0 (the first `<|im_start|>`) is an attention sink whose residual norm is ~100x the others'; left in, it
    would dominate the SAE's reconstruction loss, so it is neither stored nor counted. Everything is written into a
    temporary folder renamed into place at the end, so an interrupted harvest never looks finished.

    Args:
        conversations: what to read; default: the ShareGPT split named by `cfg.split`.
        monitor: told the tokens written after every batch; a stop request ends the harvest (nothing is kept).
    """
    out = Path(out)
    if (out / META).is_file():
        log.info("reusing finished harvest %s", out)
        return Harvest.open(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out.name}-", dir=out.parent))
    try:
        _write(engine, cfg, tmp, conversations or conversations_for(cfg), progress, monitor)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return Harvest.open(out)


def _write(
    engine: Engine,
    cfg: HarvestConfig,
    folder: Path,
    conversations: list[Conversation],
    progress: bool,
    monitor: Monitor | None = None,
) -> None:
    n_max, d = cfg.tokens, engine.d_model
    acts = {
        layer: np.lib.format.open_memmap(folder / f"L{layer}.npy", "w+", np.float16, (n_max, d)) for layer in cfg.layers
    }
    special = np.lib.format.open_memmap(folder / "special.npy", "w+", np.bool_, (n_max,))
    token_ids = np.lib.format.open_memmap(folder / "token_ids.npy", "w+", np.int32, (n_max,))
    sequence = np.lib.format.open_memmap(folder / "sequence.npy", "w+", np.int32, (n_max,))
    start, n, n_seq, n_forward_tokens = time.perf_counter(), 0, 0, 0
    bar = tqdm(total=n_max, desc=f"harvest {cfg.method} L{cfg.layers}", unit="tok", disable=not progress)
    for batch in _batches(sequences_for(engine, cfg, conversations), cfg.batch_tokens):
        ids = [torch.tensor(s.token_ids, dtype=torch.long) for s in batch]
        store = engine.hidden_states(ids, cfg.layers)
        for i, s in enumerate(batch):
            length = len(s.token_ids)
            k = min(length - 1, n_max - n)  # positions 1..length-1
            if k <= 0:
                continue
            for layer in cfg.layers:
                acts[layer][n : n + k] = store[layer][i, 1 : 1 + k].float().cpu().numpy().astype(np.float16)
            special[n : n + k] = engine.chat.special_mask(s.token_ids)[1 : 1 + k]
            token_ids[n : n + k] = s.token_ids[1 : 1 + k]
            sequence[n : n + k] = n_seq
            n, n_seq = n + k, n_seq + 1
            n_forward_tokens += length
            bar.update(k)
        tick(monitor, f"harvest ({cfg.split})", n, n_max)
    bar.close()
    seconds = time.perf_counter() - start
    for arr in (*acts.values(), special, token_ids, sequence):
        arr.flush()
    meta = {
        "config": asdict(cfg),
        "model": engine.loaded.model_id,
        "d_model": d,
        "n_tokens": n,
        "n_sequences": n_seq,
        "n_conversations": len(conversations),
        "special_fraction": float(np.asarray(special[:n]).mean()) if n else 0.0,
        "position_zero": "excluded (attention sink, ~100x norm)",
        "seconds": round(seconds, 1),
        "forward_tokens_per_second": round(n_forward_tokens / seconds, 1) if seconds else None,
    }
    (folder / META).write_text(json.dumps(meta, indent=2))
