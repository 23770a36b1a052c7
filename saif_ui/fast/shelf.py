"""The shelf of attached SAEs: what an SAE folder holds (report, manifest, training record), a quick quality
measurement for SAEs that ship no report, and attaching new SAEs from the sae-lens registry or an upload."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.cache import ResultCache
from saif_ui.engine.errors import SaifError

MAX_UPLOAD_BYTES = 512 * 2**20


class SaeShelf:
    """Read-mostly facts about the engine's SAEs; measurements go to the app's result cache."""

    def __init__(self, engine: Engine, results: ResultCache) -> None:
        self.engine = engine
        self.results = results

    def sae_folder(self, sae: str) -> Path | None:
        folder = Path(self.engine.sae(sae).source).expanduser()
        return folder if folder.is_dir() else None

    def report(self, sae: str) -> dict[str, Any] | None:
        """The SAE's quality report: `report.json` in its folder, else one measured in this session, else None."""
        folder = self.sae_folder(sae)
        if folder is not None and (folder / "report.json").is_file():
            return dict(json.loads((folder / "report.json").read_text()))
        measured = self.results.peek("quality", {"sae": sae, "source": self.engine.sae(sae).source})
        return dict(measured) if measured is not None else None

    def manifest(self, sae: str) -> dict[str, Any] | None:
        folder = self.sae_folder(sae)
        if folder is not None and (folder / "manifest.json").is_file():
            return dict(json.loads((folder / "manifest.json").read_text()))
        return None

    def training_curves(self, sae: str) -> dict[str, list[tuple[float, float]]]:
        """Metric -> (step, value) points from `train_log.jsonl` in the SAE's folder, when training recorded one."""
        folder = self.sae_folder(sae)
        path = folder / "train_log.jsonl" if folder is not None else None
        if path is None or not path.is_file():
            return {}
        curves: dict[str, list[tuple[float, float]]] = {}
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            step = record.get("step")
            for k, v in record.items():
                if k != "step" and isinstance(v, int | float) and isinstance(step, int | float):
                    curves.setdefault(k, []).append((float(step), float(v)))
        return curves

    def measure_quality(self, sae: str) -> dict[str, Any]:
        """A quick quality report of any attached SAE on the small fixed held-out harvest (4,000 tokens; ΔCE on 8
        chats): what the SAE tab shows for an SAE that ships no report.json."""
        from saif_ui.fast.report import check_sample, evaluate_sae

        obj = self.engine.sae(sae)

        def run() -> dict[str, Any]:
            harvest = check_sample(self.engine, [obj.layer], self.engine.config.cache_dir)
            report = evaluate_sae(obj.sae, harvest, obj.layer, engine=self.engine, n_ce_sequences=8)
            return {**report.to_dict(), "measured": "in the app, on the 4,000-token check sample"}

        value, _ = self.results.get_or_compute("quality", {"sae": sae, "source": obj.source}, run)
        return dict(value)

    def add_registry_sae(self, source: str) -> str:
        """Attach a sae-lens registry SAE `release/sae_id` (needs the network unless it is in the HF cache)."""
        source = source.strip()
        if source.count("/") < 1 or source.startswith(("/", ".", "~")):
            raise SaifError("write a sae-lens registry id as release/sae_id, e.g. gemma-scope-2-270m-it-res/…")
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            raise SaifError("this server runs offline (HF_HUB_OFFLINE=1): registry SAEs cannot be downloaded here")
        return self.engine.add_sae(source).name

    def add_uploaded_sae(self, files: Sequence[str]) -> str:
        """Validate an upload (one cfg.json and one .safetensors), copy it under the cache dir, attach it."""
        paths = [Path(f) for f in files or []]
        cfgs = [p for p in paths if p.name.endswith(".json")]
        weights = [p for p in paths if p.name.endswith(".safetensors")]
        if len(cfgs) != 1 or len(weights) != 1 or len(paths) != 2:
            raise SaifError("upload exactly two files: the SAE's cfg.json and its weights (.safetensors)")
        size = sum(p.stat().st_size for p in paths)
        if size > MAX_UPLOAD_BYTES:
            raise SaifError(f"the upload is {size / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
        try:
            cfg = json.loads(cfgs[0].read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise SaifError(f"{cfgs[0].name} is not valid JSON: {err}") from err
        if not isinstance(cfg, dict) or not {"d_in", "d_sae"} <= cfg.keys():
            raise SaifError(f"{cfgs[0].name} is not a sae-lens cfg.json (it needs d_in, d_sae and metadata.hook_name)")
        if int(cfg["d_in"]) != self.engine.d_model:
            raise SaifError(f"this SAE has d_in={cfg['d_in']} but the model's width is {self.engine.d_model}")
        digest = hashlib.sha256(weights[0].read_bytes() + cfgs[0].read_bytes()).hexdigest()[:10]
        folder = self.engine.config.cache_dir / "uploads" / f"upload_{digest}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cfgs[0], folder / "cfg.json")
        shutil.copyfile(weights[0], folder / "sae_weights.safetensors")
        return self.engine.add_sae(str(folder), name=f"upload_{digest}").name
