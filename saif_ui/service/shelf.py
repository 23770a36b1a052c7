"""The shelf of attached SAEs: what an SAE folder holds (report, manifest, training record), a quick quality
measurement for SAEs that ship no report, and attaching new SAEs from the sae-lens registry or an upload."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.cache import ResultCache
from saif_ui.engine.errors import SaifError
from saif_ui.engine.sae_files import check_sae_files

MAX_UPLOAD_BYTES = 256 * 2**20
"""An SAE of 16k latents on a 2,304-wide model is 150 MB in float16; the embedded model's are 9 MB."""


@dataclass(frozen=True)
class ShelfConfig:
    """How many SAEs visitors may attach. The SAEs loaded at start are shared and count against nothing."""

    per_session: int = 2
    """SAEs one visitor may hold at once; attaching another detaches their oldest."""
    total: int = 4
    """Visitor-attached SAEs across all sessions (each costs up to twice the upload in memory); the least recently
    attached goes first."""
    shared_uploads: bool = False
    """True: an SAE a visitor attaches is visible to every visitor (a private deployment)."""
    max_upload_bytes: int = MAX_UPLOAD_BYTES

    def __post_init__(self) -> None:
        if self.per_session < 1 or self.total < self.per_session:
            raise SaifError("the SAE caps need per_session >= 1 and total >= per_session")

    @classmethod
    def from_env(cls) -> ShelfConfig:
        """`SAIF_SAES_PER_SESSION`, `SAIF_VISITOR_SAES` (total), `SAIF_SHARE_UPLOADS` (1/0)."""
        kw: dict[str, Any] = {}
        for key, var in (("per_session", "SAIF_SAES_PER_SESSION"), ("total", "SAIF_VISITOR_SAES")):
            raw = os.environ.get(var, "").strip()
            if raw:
                if not (raw.isascii() and raw.isdigit()):
                    raise SaifError(f"{var} must be a whole number, not {raw!r}")
                kw[key] = int(raw)
        if os.environ.get("SAIF_SHARE_UPLOADS"):
            kw["shared_uploads"] = os.environ["SAIF_SHARE_UPLOADS"].lower() in ("1", "true", "yes", "on")
        return cls(**kw)


class SaeShelf:
    """Read-mostly facts about the engine's SAEs (measurements go to the app's result cache), and the SAEs visitors
    attach: each is visible only to the sessions that attached it unless the operator shares them, capped per
    session and in total, and detached when no session holds it any more."""

    def __init__(self, engine: Engine, results: ResultCache, config: ShelfConfig | None = None) -> None:
        self.engine = engine
        self.results = results
        self.config = config or ShelfConfig.from_env()
        self._owners: dict[str, set[str]] = {}
        """Visitor-attached SAE name -> sessions holding it. Names not here are shared."""
        self._order: OrderedDict[tuple[str, str], None] = OrderedDict()
        """(session, SAE) in the order they were attached: what the caps evict first."""
        self._lock = threading.Lock()

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
        from saif_ui.fast.train_log import LOG_NAME, read_curves

        folder = self.sae_folder(sae)
        return read_curves(folder / LOG_NAME) if folder is not None else {}

    def recipe_curve(self, sae: str) -> tuple[dict[str, list[tuple[float, float]]], dict[str, Any]] | None:
        """The curve of a re-run of the SAE's recipe and what it is (`fast.recipe_curve`), for an SAE whose own
        training recorded none; None when there is no such re-run beside it."""
        from saif_ui.fast.recipe_curve import CURVE_NAME, read_about
        from saif_ui.fast.train_log import read_curves

        folder = self.sae_folder(sae)
        about = read_about(folder) if folder is not None else None
        if folder is None or about is None:
            return None
        curves = read_curves(folder / CURVE_NAME)
        return (curves, about) if curves else None

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

    # ---------------------------------------------------------------- what each visitor attached

    def visible(self, session: str | None) -> list[str]:
        """Attached SAEs this session may use: the shared ones (loaded at start) and those it attached itself (every
        attached one when the operator shares visitors' SAEs)."""
        with self._lock:
            owned = {n for n, owners in self._owners.items() if self.config.shared_uploads or session in owners}
            private = set(self._owners)
        return [n for n in self.engine.sae_names() if n not in private or n in owned]

    def attached_by_visitors(self) -> dict[str, list[str]]:
        """Visitor-attached SAE -> the sessions holding it (for tests and the operator)."""
        with self._lock:
            return {n: sorted(o) for n, o in self._owners.items()}

    def _attach(self, session: str, source: str, name: str | None = None) -> str:
        """Attach for `session` (reusing an SAE another session attached from the same source), then enforce the
        per-session and total caps by detaching the least recently attached."""
        with self._lock:
            existing = next(
                (n for n in self._owners if getattr(self.engine.saes.get(n), "source", None) == source), None
            )
        if existing is None:
            if name in self.engine.saes and name not in self._owners:
                raise SaifError(f"{name!r} is the name of a shared SAE; rename the upload's folder")
            existing = self.engine.add_sae(source, name=name).name
        with self._lock:
            self._owners.setdefault(existing, set()).add(session)
            self._order.pop((session, existing), None)
            self._order[(session, existing)] = None
            mine = [n for s, n in self._order if s == session]
            drop = [(session, n) for n in mine[: max(0, len(mine) - self.config.per_session)]]
            kept = [k for k in self._order if k not in drop]
            total = list(dict.fromkeys(n for _, n in kept))
            over = total[: max(0, len(total) - self.config.total)]
            drop += [k for k in kept if k[1] in over]
            for key in drop:
                self._order.pop(key, None)
                self._owners.get(key[1], set()).discard(key[0])
            orphans = [n for n, owners in self._owners.items() if not owners]
        self._detach(orphans)
        return existing

    def release(self, session: str) -> list[str]:
        """Forget what `session` attached (its tab closed); SAEs no other session holds are detached and their
        uploaded files deleted. Returns the detached names."""
        with self._lock:
            for key in [k for k in self._order if k[0] == session]:
                del self._order[key]
            for owners in self._owners.values():
                owners.discard(session)
            orphans = [n for n, owners in self._owners.items() if not owners]
        self._detach(orphans)
        return orphans

    def _detach(self, names: list[str]) -> None:
        uploads = (self.engine.config.cache_dir / "uploads").resolve()
        for name in names:
            with self._lock:
                self._owners.pop(name, None)
            sae = self.engine.saes.get(name)
            self.engine.remove_sae(name)
            folder = Path(sae.source).resolve() if sae is not None else None
            if folder is not None and folder.parent == uploads:  # only the managed folder is ever deleted
                shutil.rmtree(folder, ignore_errors=True)

    # ---------------------------------------------------------------- attaching

    def add_registry_sae(self, source: str, session: str = "operator") -> str:
        """Attach a sae-lens registry SAE `release/sae_id` for `session` (needs the network unless it is in the HF
        cache; offline, it fails at once)."""
        source = source.strip()
        if not source or len(source) > 300 or any(not c.isprintable() for c in source):
            raise SaifError("write a sae-lens registry id as release/sae_id (printable, under 300 characters)")
        if source.count("/") < 1 or source.startswith(("/", ".", "~")) or ".." in source.split("/"):
            raise SaifError("write a sae-lens registry id as release/sae_id, e.g. gemma-scope-2-270m-it-res/…")
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            raise SaifError("this server runs offline (HF_HUB_OFFLINE=1): registry SAEs cannot be downloaded here")
        return self._attach(session, source)

    def attach_local(self, session: str, folder: Path) -> str:
        """Attach an SAE the server wrote into its managed folder (`<cache>/uploads/<name>`, e.g. one trained in the
        app) for `session`, named after its folder; it is deleted with the folder when no session holds it."""
        uploads = (self.engine.config.cache_dir / "uploads").resolve()
        folder = Path(folder)
        if folder.resolve().parent != uploads:
            raise SaifError(f"{folder} is not in the server's managed folder {uploads}")
        check_sae_files(folder / "cfg.json", folder / "sae_weights.safetensors", self.engine.d_model,
                        self.engine.n_layers)  # fmt: skip
        return self._attach(session, str(folder), name=folder.name)

    def add_uploaded_sae(self, files: Sequence[str], session: str = "operator") -> str:
        """Validate an upload (one cfg.json and one .safetensors: sizes, every cfg field, the weights' header,
        shapes and finiteness; `engine.sae_files`) and only then copy it into the managed folder
        `<cache>/uploads/upload_<digest>` and attach it for `session`."""
        paths = [Path(f) for f in files or []]
        cfgs = [p for p in paths if p.name.endswith(".json")]
        weights = [p for p in paths if p.name.endswith(".safetensors")]
        if len(cfgs) != 1 or len(weights) != 1 or len(paths) != 2:
            raise SaifError("upload exactly two files: the SAE's cfg.json and its weights (.safetensors)")
        if not all(p.is_file() for p in paths):
            raise SaifError("the uploaded files could not be read; upload them again")
        size = sum(p.stat().st_size for p in paths)
        if size > self.config.max_upload_bytes:
            raise SaifError(
                f"the upload is {size / 2**20:.0f} MB; the limit is {self.config.max_upload_bytes / 2**20:.0f} MB"
            )
        check_sae_files(cfgs[0], weights[0], self.engine.d_model, self.engine.n_layers)
        digest = hashlib.sha256(weights[0].read_bytes() + cfgs[0].read_bytes()).hexdigest()[:10]
        folder = self.engine.config.cache_dir / "uploads" / f"upload_{digest}"
        if not (folder / "sae_weights.safetensors").is_file():
            # Copy into a temporary sibling and rename: a half-copied folder is never taken for an SAE.
            tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            shutil.copyfile(cfgs[0], tmp / "cfg.json")
            shutil.copyfile(weights[0], tmp / "sae_weights.safetensors")
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
        return self._attach(session, str(folder), name=f"upload_{digest}")
