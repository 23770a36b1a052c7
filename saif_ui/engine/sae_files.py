"""Checking an SAE's files (cfg.json and sae_weights.safetensors, the sae-lens format) before anything is copied or
loaded: what an upload must pass, field by field, with a message a visitor can act on."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from saif_ui.engine import jsonsafe
from saif_ui.engine.errors import SaifError
from saif_ui.engine.sae import SAELoadError, hook_to_layer

MAX_CFG_BYTES = 256 * 2**10
MAX_HEADER_BYTES = 4 * 2**20
"""A safetensors header lists a handful of tensors in a few hundred bytes; a bigger one is not an SAE."""
MAX_D_SAE = 2**20
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}
"""The float dtypes an SAE's weights may have (safetensors names), and their sizes."""


@dataclass(frozen=True)
class SaeFiles:
    """What validation learned: the parsed cfg, the layer it reads, its sizes."""

    cfg: dict[str, Any]
    layer: int
    d_in: int
    d_sae: int


def _field(cfg: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str, where: str = "cfg.json") -> Any:
    if key not in cfg:
        raise SAELoadError(f"{where} has no '{key}' ({what})")
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise SAELoadError(f"'{key}' in {where} must be {what}, not {json.dumps(value)[:40]}")
    return value


def check_cfg(raw: bytes, d_model: int, n_layers: int) -> SaeFiles:
    """Parse and check a sae-lens cfg.json against the model: d_in, d_sae, architecture, k, metadata.hook_name."""
    if len(raw) > MAX_CFG_BYTES:
        raise SAELoadError(f"cfg.json is {len(raw) / 2**10:.0f} KB; a sae-lens cfg.json is under 1 KB")
    try:
        cfg = jsonsafe.loads(raw, "cfg.json", max_bytes=MAX_CFG_BYTES)
    except SaifError as err:
        raise SAELoadError(str(err)) from None
    if not isinstance(cfg, dict):
        raise SAELoadError("cfg.json must be a JSON object (a sae-lens SAE config)")
    d_in = _field(cfg, "d_in", int, "the residual width, a whole number")
    d_sae = _field(cfg, "d_sae", int, "the number of latents, a whole number")
    if d_in != d_model:
        raise SAELoadError(f"this SAE has d_in={d_in} but the model's residual width is {d_model}")
    if not 1 <= d_sae <= MAX_D_SAE:
        raise SAELoadError(f"'d_sae' must be within 1..{MAX_D_SAE:,}, not {d_sae}")
    arch = cfg.get("architecture", "standard")
    known = _architectures()
    if not isinstance(arch, str) or arch not in known:
        raise SAELoadError(f"'architecture' in cfg.json must be one of {', '.join(known)}, not {json.dumps(arch)[:40]}")
    if arch in ("topk", "batchtopk"):
        k = _field(cfg, "k", int, "the number of active latents of a TopK SAE, a whole number")
        if not 1 <= k <= d_sae:
            raise SAELoadError(f"'k' must be within 1..d_sae ({d_sae}), not {k}")
    metadata = _field(cfg, "metadata", dict, "an object holding hook_name")
    hook = _field(metadata, "hook_name", str, "the hook the SAE reads, e.g. blocks.24.hook_resid_post", "metadata")
    layer = hook_to_layer(hook)
    if not -1 <= layer < n_layers:
        raise SAELoadError(f"the SAE reads {hook}, but the model has layers 0..{n_layers - 1}")
    if "dtype" in cfg and not isinstance(cfg["dtype"], str):
        raise SAELoadError(f"'dtype' in cfg.json must be a string such as float32, not {json.dumps(cfg['dtype'])[:40]}")
    return SaeFiles(cfg=cfg, layer=layer, d_in=d_in, d_sae=d_sae)


def _architectures() -> list[str]:
    import sae_lens  # noqa: F401  (registers its architectures)
    from sae_lens.registry import SAE_CLASS_REGISTRY

    return sorted(SAE_CLASS_REGISTRY)


def expected_shapes(files: SaeFiles) -> dict[str, tuple[int, ...]]:
    """The tensors every sae-lens SAE of these sizes stores, and their shapes."""
    d_in, d_sae = files.d_in, files.d_sae
    return {"W_enc": (d_in, d_sae), "W_dec": (d_sae, d_in), "b_enc": (d_sae,), "b_dec": (d_in,)}


def check_header(path: Path, files: SaeFiles) -> dict[str, Any]:
    """Read a .safetensors header without loading tensors: a JSON header of float tensors whose byte ranges fit the
    file, with the SAE's four weights at the cfg's shapes. A pickle (or anything else) renamed .safetensors fails
    here, before a byte of it is interpreted."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise SAELoadError("the weights file is not a safetensors file (it is shorter than a header)")
        (n,) = struct.unpack("<Q", head)
        if not 2 <= n <= min(MAX_HEADER_BYTES, size - 8):
            raise SAELoadError("the weights file is not a safetensors file (its first 8 bytes are no header length)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise SAELoadError("the weights file is not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise SAELoadError("the weights file is not a safetensors file (its header is not an object)")
    body = size - 8 - n
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    for name, entry in tensors.items():
        if not isinstance(entry, dict) or entry.get("dtype") not in DTYPE_BYTES:
            raise SAELoadError(f"tensor {name!r} must be a float tensor ({', '.join(DTYPE_BYTES)}), not {entry!r:.60}")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise SAELoadError(f"tensor {name!r} has a malformed shape {shape!r:.60}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise SAELoadError(f"tensor {name!r} has malformed data offsets")
        start, end = offsets
        if not 0 <= start <= end <= body or end - start != math.prod(shape) * DTYPE_BYTES[entry["dtype"]]:
            raise SAELoadError(f"tensor {name!r}: its bytes do not fit the file (truncated or corrupt)")
    for name, shape in expected_shapes(files).items():
        if name not in tensors:
            raise SAELoadError(f"the weights file has no {name} (an SAE stores W_enc, W_dec, b_enc and b_dec)")
        if tuple(tensors[name]["shape"]) != shape:
            raise SAELoadError(f"{name} has shape {tuple(tensors[name]['shape'])}; cfg.json's sizes need {shape}")
    return header


def check_weights(path: Path, files: SaeFiles) -> None:
    """The header checks, then every tensor loaded (safetensors: no code runs) and checked finite."""
    check_header(path, files)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError) as err:
        raise SAELoadError(f"the weights file could not be read: {err}") from None
    for name, tensor in tensors.items():
        if not bool(torch.isfinite(tensor).all()):
            raise SAELoadError(f"{name} holds NaN or infinite values: this SAE cannot be used")


def check_sae_files(cfg_path: Path, weights_path: Path, d_model: int, n_layers: int) -> SaeFiles:
    """Everything an uploaded SAE must pass before it is copied: its cfg.json fields, its weights' header, shapes
    and finiteness."""
    files = check_cfg(cfg_path.read_bytes()[: MAX_CFG_BYTES + 1], d_model, n_layers)
    check_weights(weights_path, files)
    return files
