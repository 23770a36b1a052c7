"""A distilled vector on disk: one small safetensors file (the vector, and for the `sae` basis its latents and
coefficients) beside a JSON manifest (settings, key, validation checks, history, provenance).

The manifest's `key` says what the vector was trained from (model, SAE, instruction, contents, catalogue,
checkers, settings); a study compares it with the key the current code and data would give, so a stale vector fails
a test instead of being shown.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from saif_ui.engine.errors import SaifError
from saif_ui.saif.distil.config import DistilConfig
from saif_ui.saif.distil.train import Check, Distilled

WEIGHTS = "vector.safetensors"
MANIFEST = "manifest.json"


def save_distilled(d: Distilled, folder: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write `d` into `folder` (created); `extra` (key, provenance, reading) goes into the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {"vector": d.vector.float().contiguous()}
    if d.latents:
        tensors["latents"] = torch.tensor(d.latents, dtype=torch.int64)
        tensors["coefficients"] = torch.tensor(d.coefficients, dtype=torch.float32)
    save_file(tensors, str(folder / WEIGHTS))
    manifest = {
        "instruction": d.instruction,
        "layer": d.layer,
        "sae": d.sae,
        "config": asdict(d.config),
        "best_step": d.best_step,
        "fidelity_threshold": d.fidelity_threshold,
        "seconds": round(d.seconds, 1),
        "candidates": d.candidates,
        "checks": [asdict(c) for c in d.checks],
        "history": d.history,
        "answers": d.answers,
        **(extra or {}),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


def load_distilled(folder: Path) -> tuple[Distilled, dict[str, Any]]:
    """A saved vector and its whole manifest; a missing or malformed file is an error naming it."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / WEIGHTS))
        d = Distilled(
            instruction=str(manifest["instruction"]),
            layer=int(manifest["layer"]),
            config=DistilConfig(**manifest["config"]),
            vector=tensors["vector"].float(),
            sae=manifest.get("sae"),
            latents=[int(i) for i in tensors["latents"].tolist()] if "latents" in tensors else [],
            coefficients=[float(c) for c in tensors["coefficients"].tolist()] if "coefficients" in tensors else [],
            candidates=dict(manifest.get("candidates") or {}),
            history=list(manifest.get("history") or []),
            checks=[Check(**c) for c in manifest.get("checks") or []],
            best_step=int(manifest.get("best_step", 0)),
            fidelity_threshold=manifest.get("fidelity_threshold"),
            seconds=float(manifest.get("seconds", 0.0)),
            answers=list(manifest.get("answers") or []),
        )
    except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
        raise SaifError(f"{folder}: not a distilled vector ({err})") from None
    return d, manifest
