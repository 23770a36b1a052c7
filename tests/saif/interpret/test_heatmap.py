"""Tests for saif_ui.saif.interpret.heatmap: activations of chosen latents on every token of a prompt pair."""

from __future__ import annotations

import pytest
import torch

from saif_ui.saif.inputs.prompts import build_pairs
from saif_ui.saif.interpret.heatmap import heatmap, pair_heatmaps
from tests.conftest import random_sae


@pytest.fixture
def sae24(engine, tmp_path):
    random_sae(engine.d_model, 64, "blocks.24.hook_resid_post").save_model(str(tmp_path / "rand24"))
    sae = engine.add_sae(str(tmp_path / "rand24"))
    yield sae
    engine.remove_sae(sae.name)


def test_heatmaps_of_a_pair(engine, sae24) -> None:
    [pair] = build_pairs(engine.chat, [("c", "Cats purr when they are happy.")], ["Translate the text into French."])
    maps = pair_heatmaps(engine, sae24.name, pair, [0, 5, 9])
    pos, neg = maps["positive"], maps["negative"]
    assert len(pos.tokens) == pair.positive.n_tokens and len(neg.tokens) == pair.negative.n_tokens
    assert len(pos.values) == len(pos.tokens) and len(pos.values[0]) == 3 and pos.latents == [0, 5, 9]
    assert pos.instruction_tokens is not None and neg.instruction_tokens is None
    assert "".join(pos.tokens) == pair.positive.text  # tokens decode back to the prompt, specials included
    [enc] = engine.encode([pair.positive.text], saes=[sae24.name])
    assert torch.equal(torch.tensor(pos.values), enc.latents[sae24.name][:, [0, 5, 9]])
    assert pos.to_dict()["special"][0] is True
    with pytest.raises(ValueError, match="out of range"):
        heatmap(engine, sae24.name, pair.positive, [64])
