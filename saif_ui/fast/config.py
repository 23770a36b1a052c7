"""The FAST pipeline's settings, apart from the code that runs them (and from torch, so the command line builds its
flags and `--help` from them quickly): what to harvest, how to train the SAE, and the pipeline that ties them.

Each field's docstring is its `train-sae` flag's help (`cli.fields`); each default lives here once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from saif_ui.engine.errors import SaifError

Method = Literal["fast", "bt"]
Arch = Literal["standard", "jumprelu", "topk"]


@dataclass
class HarvestConfig:
    """What to harvest. Sizes default to what a 2-core CPU harvests in well under an hour."""

    layers: list[int]
    """Decoder blocks whose outputs to store; one forward per batch stops at the deepest."""
    method: Method = "fast"
    """`fast`: one conversation per sequence (FAST); `bt`: concatenated fixed-length blocks (the baseline)."""
    tokens: int = 1_000_000
    """Activations to store per layer (position 0 of each sequence is never stored nor counted)."""
    split: Literal["train", "eval"] = "train"
    """Which side of the fixed held-out split to read conversations from."""
    max_len: int = 1024
    """FAST truncation. The paper uses 8,192; on a CPU long chats would dominate the budget and the time."""
    block_len: int = 1024
    """BT block length (the paper's BT(F) uses 2,048; we match FAST's max_len so only the packing differs)."""
    batch_tokens: int = 8192
    """Padded tokens per forward (batch size x longest sequence)."""
    seed: int = 0
    include_ifbench: bool = False
    """Mix the IFBench instruction prompts into the conversations (single user turns)."""

    def __post_init__(self) -> None:
        if not self.layers:
            raise SaifError("harvest needs at least one layer")
        if self.method not in ("fast", "bt"):
            raise SaifError(f"method must be fast or bt, not {self.method!r}")
        if self.tokens < 1 or self.max_len < 2 or self.block_len < 2 or self.batch_tokens < self.max_len:
            raise SaifError("tokens >= 1, max_len and block_len >= 2, and batch_tokens >= max_len are required")
        self.layers = sorted(set(self.layers))


@dataclass
class TrainConfig:
    """SAE architecture and optimisation. Defaults were chosen by short sweeps on SmolLM2-135M (see docs/FAST.md)."""

    layer: int
    """Decoder block whose output the SAE reads."""
    arch: Arch = "jumprelu"
    """`standard` (ReLU + L1) and `jumprelu` (L0) as in FAST; `topk` optional (slow on CPU)."""
    d_sae: int = 4096
    """Latents; 4,096 is ~7x SmolLM2's 576 and fits a 10 MB file in fp16."""
    tokens: int = 2_000_000
    """Training samples (activations); more than the harvest holds means several shuffled epochs."""
    batch_size: int = 4096
    """Activations per optimiser step."""
    lr: float = 4e-4
    """Peak learning rate; cosine-decayed to lr/10 as in FAST (7e-5 -> 7e-6 at batch 128; we use larger batches)."""
    warmup_fraction: float = 0.05
    l1_coefficient: float = 5.0
    """Standard SAE sparsity weight (FAST: lambda = 5) on unit-scaled activations."""
    target_l0: float = 48.0
    """JumpReLU: the quadratic L0 penalty pulls the mean L0 to this (Gemma Scope 2's loss)."""
    l0_coefficient: float = 1.0
    k: int = 48
    """TopK: active latents per token."""
    sparsity_warmup_fraction: float = 0.25
    """Fraction of steps over which the sparsity coefficient ramps up (FAST: 10k of ~320k steps...)."""
    checkpoint_every: int = 100
    """Steps between checkpoints (0: none)."""
    seed: int = 0
    """Seeds the initial weights and the order of the batches (and, in the pipeline, the harvest)."""
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.arch not in ("standard", "jumprelu", "topk"):
            raise SaifError(f"arch must be standard, jumprelu or topk, not {self.arch!r}")
        if min(self.d_sae, self.tokens, self.batch_size) < 1 or self.lr <= 0:
            raise SaifError("d_sae, tokens, batch_size and lr must be positive")
        if self.tokens < self.batch_size:
            raise SaifError(f"tokens ({self.tokens}) must be at least one batch ({self.batch_size})")

    @property
    def steps(self) -> int:
        return self.tokens // self.batch_size


@dataclass(frozen=True)
class PipelineConfig:
    """One `train-sae` run: the SAE's training config, the harvest it trains on and the report's budget.

    The two configs keep their own fields and defaults; the pipeline only ties them together (one seed, the SAE's
    layer among the harvested ones, the BT block as long as the FAST truncation), which is what `command()` can say.
    """

    train: TrainConfig
    """The SAE (its layer, architecture, size) and its optimisation."""
    harvest: HarvestConfig
    """The activations it trains on: the training split, `train.layer` among the layers, `train.seed`."""
    resume: bool = True
    """Continue from the checkpoints already in the output folder (--no-resume: start over)."""
    eval_tokens: int | None = None
    """Held-out activations the report is measured on (default: 100,000)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Recorded in the manifest as is (e.g. who asked for the run in the app)."""

    def __post_init__(self) -> None:
        h, t = self.harvest, self.train
        if t.layer not in h.layers:
            raise SaifError(f"the harvest must include the SAE's layer {t.layer}; it has {h.layers}")
        if h.seed != t.seed or h.split != "train" or h.block_len != h.max_len:
            raise SaifError("the pipeline harvests the training split with the training seed and block_len = max_len")

    @classmethod
    def of(
        cls,
        train: TrainConfig,
        *,
        harvest_tokens: int | None = None,
        harvest_layers: Iterable[int] = (),
        harvest: Mapping[str, Any] | None = None,
        **pipeline: Any,
    ) -> PipelineConfig:
        """The pipeline that trains `train` on a harvest of its layer (plus `harvest_layers`) holding `harvest_tokens`
        activations (default: as many as it trains on), with `harvest`'s other `HarvestConfig` fields; `pipeline`
        sets this class's own fields (`resume`, `eval_tokens`, `extra`).

        Example:
            >>> PipelineConfig.of(TrainConfig(layer=8, arch="topk", k=32), harvest={"method": "bt"}, eval_tokens=2000)
        """
        hcfg = HarvestConfig(
            layers=sorted(set(harvest_layers) | {train.layer}),
            tokens=harvest_tokens or train.tokens,
            seed=train.seed,
            **(harvest or {}),
        )
        return cls(train=train, harvest=replace(hcfg, block_len=hcfg.max_len), **pipeline)

    @property
    def layer(self) -> int:
        """The SAE's layer."""
        return self.train.layer

    def command(self, out: str | Path) -> str:
        """The `train-sae` command line that runs this pipeline into `out`."""
        t, h = self.train, self.harvest
        parts = [
            "python -m saif_ui train-sae",
            f"--layer {t.layer}",
            f"--method {h.method}",
            f"--arch {t.arch}",
            f"--d-sae {t.d_sae}",
            f"--tokens {t.tokens}",
            f"--harvest-tokens {h.tokens}",
        ]
        if h.layers != [t.layer]:
            parts.append("--harvest-layers " + ",".join(str(x) for x in h.layers))
        parts += [f"--max-len {h.max_len}", f"--batch-size {t.batch_size}", f"--lr {t.lr:g}"]
        parts.append({"standard": f"--l1 {t.l1_coefficient:g}", "jumprelu": f"--target-l0 {t.target_l0:g}",
                      "topk": f"--k {t.k}"}[t.arch])  # fmt: skip
        parts += [f"--seed {t.seed}", f"--checkpoint-every {t.checkpoint_every}"]
        if h.include_ifbench:
            parts.append("--ifbench")
        if self.eval_tokens:
            parts.append(f"--eval-tokens {self.eval_tokens}")
        return " ".join([*parts, f"--out {out}"])
