"""The app's figures, measured on a real `python app.py`: a repeated request vs its first time (P4), start to first
page warm and cold (P5), resident memory idle and after a workload (P6), and discover → steer → verdict (P9)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from gradio_client import Client

from bench.timing import Figure

ROOT = Path(__file__).resolve().parents[1]
SAE = "L24_fast_topk64"
CONTENT = "The cat sat on the mat and looked at the rain."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`python app.py` in a subprocess; `start()` returns the seconds until its first page answered HTTP 200."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = {**os.environ, "GRADIO_SERVER_PORT": str(self.port), "HF_HUB_OFFLINE": "1", **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 600) -> float:
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("the app exited during start")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"the app did not answer within {timeout} s")

    def rss(self) -> int:
        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


def p5_start(quick: bool) -> tuple[Figure, Figure]:
    """Start to first page with the converted model cached (warm) and from an empty cache folder (first ever: the
    GGUF conversion included)."""
    warm = Server()
    warm_s = warm.start()
    warm.stop()
    with tempfile.TemporaryDirectory(prefix="saif_cold_") as tmp:
        cold = Server({"SAIF_CACHE_DIR": tmp})
        cold_s = cold.start()
        cold.stop()
    return (
        Figure("P5w", "python app.py to first page, warm caches", round(warm_s, 1), 20.0, "<=", "s"),
        Figure("P5c", "python app.py to first page, first ever (conversion included)", round(cold_s, 1), 90.0, "<=",
               "s"),
    )  # fmt: skip


def _steer(client: Client, latents: list[str], alpha: float = 1.0) -> Any:
    return client.predict(
        instruction="french", content=CONTENT, sae=SAE, latents=latents, alpha=alpha, max_new_tokens=32,
        api_name="/steer",
    )  # fmt: skip


def app_workload(quick: bool) -> list[Figure]:
    """P9 (discover → steer → verdict), P4 (the same steer again) and P6 (memory idle and after the workload) on one
    started server whose disk caches are empty (a private cache folder holding only the converted model), so the
    discovery really runs: "warm" is the loaded model, not a cached result."""
    with tempfile.TemporaryDirectory(prefix="saif_p9_") as tmp:
        cache = Path(tmp)
        models = _converted_models()
        if models is not None:  # reuse the conversion; nothing else from the user's cache
            (cache / "models").symlink_to(models, target_is_directory=True)
        return _workload(Server({"SAIF_CACHE_DIR": str(cache)}))


def _converted_models() -> Path | None:
    from saif_ui.engine.config import default_cache_dir

    models = default_cache_dir() / "models"
    return models if models.is_dir() else None


def _workload(server: Server) -> list[Figure]:
    server.start()
    try:
        idle = server.rss()
        client = Client(server.url, verbose=False)
        start = time.perf_counter()
        status, table, _ = client.predict(instruction="french", sae=SAE, n_contents=48, top_k=20, api_name="/discover")
        top = [str(row[1]) for row in table["data"][:5]]
        out = _steer(client, top)
        p9 = time.perf_counter() - start
        verdict = out[3] if len(out) > 3 else ""
        # P4: the identical request again (served from the result cache) vs its first time with a fresh α.
        miss = float("inf")
        hit = float("inf")
        for i in range(3):
            t0 = time.perf_counter()
            _steer(client, top, alpha=1.0 + 0.25 * (i + 1))
            miss = min(miss, time.perf_counter() - t0)
            t0 = time.perf_counter()
            _steer(client, top, alpha=1.0 + 0.25 * (i + 1))
            hit = min(hit, time.perf_counter() - t0)
        # P6: a sweep and more steers on top, then memory again.
        client.predict(
            instruction="french", content=CONTENT, sae=SAE, latents=top, alphas="0, 0.5, 1, 2, 4, 8", n_contents=8,
            max_new_tokens=16, api_name="/sweep",
        )  # fmt: skip
        for a in (0.3, 0.6, 0.9):
            _steer(client, top, alpha=a)
        after = server.rss()
        peak = max(idle, after)
    finally:
        server.stop()
    return [
        Figure("P9", "discover (48 pairs) → steer → verdict for one instruction, warm, through the API",
               round(p9, 1), 60.0, "<=", "s", raw={"discovery": status, "verdict": str(verdict)[:80]}),
        Figure("P4", "repeated identical /steer through the running app: round trip of the repeat", round(hit * 1000),
               50.0, "<=", "ms", raw={"miss_s": round(miss, 3), "hit_s": round(hit, 4),
                                      "miss_over_hit": round(miss / hit, 1)},
               note=f"the repeat is {miss / hit:.0f}× faster than the first time (target ≥ 20×)"),
        Figure("P6", "resident memory of the app (embedded model + shipped SAEs), after discover/steer/sweep",
               round(peak / 2**30, 2), 2.5, "<=", "GB", raw={"idle_gb": round(idle / 2**30, 2),
                                                           "after_gb": round(after / 2**30, 2)}),
    ]  # fmt: skip
