"""The pipeline config composes the harvest and training configs: built from the SAE's training config, refused when
the two disagree, and its `train-sae` command parses back into the same config (no model needed)."""

from __future__ import annotations

import shlex
from dataclasses import replace

import pytest

from saif_ui.cli import build_parser
from saif_ui.cli.fast import pipeline_config
from saif_ui.engine.errors import SaifError
from saif_ui.fast.config import HarvestConfig, PipelineConfig, TrainConfig
from saif_ui.service import served


def _parsed(command: str) -> PipelineConfig:
    return pipeline_config(build_parser().parse_args(shlex.split(command)[3:]))


def test_the_harvest_follows_the_training_config() -> None:
    cfg = PipelineConfig.of(TrainConfig(layer=8, seed=3, tokens=8192), harvest_layers=(15, 8), harvest={"max_len": 64})
    assert cfg.harvest == HarvestConfig(layers=[8, 15], tokens=8192, max_len=64, block_len=64, seed=3)
    assert cfg.layer == 8 and cfg.resume and cfg.eval_tokens is None
    assert PipelineConfig.of(TrainConfig(layer=8), harvest_tokens=1000).harvest.tokens == 1000


def test_configs_the_command_cannot_say_are_refused() -> None:
    train = TrainConfig(layer=8)
    with pytest.raises(SaifError, match="must include the SAE's layer 8"):
        PipelineConfig(train=train, harvest=HarvestConfig(layers=[3]))
    with pytest.raises(SaifError, match="training seed"):
        PipelineConfig(train=train, harvest=HarvestConfig(layers=[8], seed=1, block_len=1024))


def _said(cfg: PipelineConfig) -> PipelineConfig:
    """`cfg` as its command says it: only the chosen architecture's sparsity setting is on the command line."""
    keep = {"standard": "l1_coefficient", "jumprelu": "target_l0", "topk": "k"}[cfg.train.arch]
    unsaid = {k: getattr(TrainConfig(layer=0), k) for k in ("l1_coefficient", "target_l0", "k") if k != keep}
    return replace(cfg, train=replace(cfg.train, **unsaid))


@pytest.mark.parametrize("arch", ["standard", "jumprelu", "topk"])
def test_the_command_parses_back_into_the_same_config(arch) -> None:
    cfg = PipelineConfig.of(
        TrainConfig(layer=8, arch=arch, d_sae=512, k=16, target_l0=20.0, l1_coefficient=2.0, tokens=8192, seed=2),
        harvest_tokens=4096, harvest_layers=(15,), harvest={"max_len": 256, "method": "bt", "include_ifbench": True},
        eval_tokens=3000,
    )  # fmt: skip
    assert _parsed(cfg.command("out")) == _said(cfg)


def test_the_served_defaults_and_a_browser_request_parse_back_from_their_command() -> None:
    assert _parsed(served.DEFAULTS.command("out")) == _said(served.DEFAULTS)
    cfg = served.configure(8, "bt", "jumprelu", 1024, 40, 300_000, 5, n_layers=30)
    assert _parsed(cfg.command("out")) == _said(cfg)
