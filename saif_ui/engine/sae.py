"""Load SAEs through sae-lens and map their hook names onto the model's decoder-layer outputs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from saif_ui.engine.errors import SaifError

if TYPE_CHECKING:  # sae_lens imports transformer_lens and wandb (~6 s): only on first load, never at import
    from sae_lens import SAE


class SAELoadError(SaifError):
    """An SAE could not be loaded or does not fit the model; the message says which and why."""


_TL = re.compile(r"^blocks\.(\d+)\.hook_resid_(pre|post)$")
_HF = re.compile(r"^(?:model\.)*(?:language_model\.)?layers\.(\d+)(?:\.output)?$")


def hook_to_layer(hook_name: str) -> int:
    """Map a hook name to the decoder block whose output it reads; -1 means the embeddings (input of block 0).

    `blocks.L.hook_resid_post` and the HF path `model.layers.L` are the output of block L; `blocks.L.hook_resid_pre`
    is the input of block L, i.e. the output of block L-1 (`hidden_states[L]` in HF terms).
    """
    m = _TL.match(hook_name)
    if m:
        layer = int(m.group(1))
        return layer if m.group(2) == "post" else layer - 1
    m = _HF.match(hook_name)
    if m:
        return int(m.group(1))
    raise SAELoadError(
        f"unsupported hook {hook_name!r}: saif_ui reads the residual stream, so the SAE's hook must be "
        "blocks.L.hook_resid_post, blocks.L.hook_resid_pre or model.layers.L"
    )


@dataclass
class LoadedSAE:
    """An SAE attached to the model: the sae-lens object plus the layer whose output it encodes."""

    name: str
    sae: SAE
    layer: int
    """Decoder block whose output the SAE reads (-1: the embeddings)."""
    hook_name: str
    source: str

    @property
    def d_sae(self) -> int:
        return int(self.sae.cfg.d_sae)

    @property
    def architecture(self) -> str:
        return str(self.sae.cfg.architecture())

    def encode(self, resid: torch.Tensor) -> torch.Tensor:
        """Latent activations of residuals `[..., d_in]` (computed in the SAE's dtype, fp32 by default)."""
        param = self.sae.W_enc
        return self.sae.encode(resid.to(device=param.device, dtype=param.dtype))

    def direction(self, latent: int) -> torch.Tensor:
        """Decoder row of a latent: the direction it writes into the residual stream."""
        if not 0 <= latent < self.d_sae:
            raise SAELoadError(f"latent {latent} is out of range for {self.name} (0..{self.d_sae - 1})")
        return self.sae.W_dec[latent].detach()

    def write_vector(self, latent: int) -> torch.Tensor:
        """What the decoder adds to the residual stream per unit of this latent's activation (fp32).

        Usually the decoder row; TopK SAEs trained with `rescale_acts_by_decoder_norm` divide activations by the
        row norm before decoding, so for them one unit of activation writes the unit direction.
        """
        row = self.direction(latent).float()
        if getattr(self.sae.cfg, "rescale_acts_by_decoder_norm", False):
            row = row / row.norm().clamp(min=1e-12)
        return row

    def write_vectors(self) -> torch.Tensor:
        """`write_vector` of every latent at once: [d_sae, d_model], fp32."""
        rows = self.sae.W_dec.detach().float()
        if getattr(self.sae.cfg, "rescale_acts_by_decoder_norm", False):
            rows = rows / rows.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return rows

    def info(self) -> dict[str, object]:
        return {
            "name": self.name,
            "layer": self.layer,
            "hook_name": self.hook_name,
            "d_sae": self.d_sae,
            "architecture": self.architecture,
            "source": self.source,
        }


def check_source(source: str) -> Path | tuple[str, str]:
    """Validate an SAE source without loading anything: an SAE folder, or (release, sae_id) for the registry.
    Cheap, so callers check every source before spending time on the model."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "cfg.json").is_file():
            raise SAELoadError(f"{path} has no cfg.json: an SAE folder holds cfg.json and sae_weights.safetensors")
        return path
    if source.startswith(("/", "./", "../", "~")) or path.exists():
        raise SAELoadError(f"SAE folder {path} not found")
    if "/" not in source:
        raise SAELoadError(f"{source!r} is neither an SAE folder nor a sae-lens registry id 'release/sae_id'")
    release, sae_id = source.split("/", 1)
    return release, sae_id


def _read(source: str, device: str) -> SAE:
    """The SAE read on the CPU, then moved to `device` as the model is: reading straight to CUDA makes safetensors
    pin host memory, which needs CUDA in the calling process (a ZeroGPU Space forbids that outside a GPU call)."""
    sae = _read_cpu(source)
    return sae if device == "cpu" else sae.to(device)


def _read_cpu(source: str) -> SAE:
    from sae_lens import SAE

    where = check_source(source)
    if isinstance(where, Path):
        try:
            return SAE.load_from_disk(where, device="cpu", dtype="float32")
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise SAELoadError(f"could not load the SAE in {where}: {e}") from e
    release, sae_id = where
    try:
        return SAE.from_pretrained(release, sae_id, device="cpu")
    except (OSError, ValueError, KeyError) as e:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
        hint = " (HF_HUB_OFFLINE is set: registry SAEs load only from the local HF cache)" if offline else ""
        raise SAELoadError(f"could not load registry SAE {release!r} / {sae_id!r}{hint}: {e}") from e


def load_sae(source: str, *, d_model: int, n_layers: int, device: str = "cpu", name: str | None = None) -> LoadedSAE:
    """Load one SAE and check it fits the model.

    Args:
        source: a folder (cfg.json + sae_weights.safetensors, as `SAE.save_model` writes) or `release/sae_id`.
        d_model, n_layers: the model's width and depth, to refuse an SAE trained for another model.
        name: display name; defaults to the folder name or the sae_id.
    """
    sae = _read(source, device)
    hook_name = getattr(sae.cfg.metadata, "hook_name", None)
    if not hook_name:
        raise SAELoadError(f"SAE {source!r} has no hook_name in its metadata, so its layer is unknown")
    layer = hook_to_layer(str(hook_name))
    if not -1 <= layer < n_layers:
        raise SAELoadError(
            f"SAE {source!r} reads {hook_name}, but the model has layers 0..{n_layers - 1}; "
            "it was made for another model"
        )
    if int(sae.cfg.d_in) != d_model:
        raise SAELoadError(
            f"SAE {source!r} has d_in={sae.cfg.d_in} but the model's residual width is {d_model}; "
            "it was trained for another model"
        )
    sae.eval()
    sae.requires_grad_(False)
    display = name or (Path(source).name if Path(source).expanduser().is_dir() else source.split("/", 1)[1])
    return LoadedSAE(name=display, sae=sae, layer=layer, hook_name=str(hook_name), source=source)
