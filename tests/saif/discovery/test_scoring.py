"""Tests for saif_ui.saif.discovery.scoring: positions, per-latent statistics, scores, flags, ranking (synthetic)."""

from __future__ import annotations

import pytest
import torch

from saif_ui.saif.discovery.config import POSITIONS, SCORES
from saif_ui.saif.discovery.scoring import (
    LatentStats,
    TokenTally,
    contrast,
    jaccard,
    latent_flags,
    rank,
    reduce_prompt,
    select_positions,
    tie_key,
)
from saif_ui.saif.inputs.prompts import Prompt, Span


def _prompt(n: int, content: tuple[int, int], instruction: tuple[int, int] | None) -> Prompt:
    return Prompt(
        text="",
        user="",
        placement="post" if instruction else "none",
        token_ids=tuple(range(n)),
        content_chars=Span(0, 0),
        content_tokens=Span(*content),
        instruction_chars=Span(0, 0) if instruction else None,
        instruction_tokens=Span(*instruction) if instruction else None,
    )


def test_select_positions() -> None:
    pos, neg = _prompt(12, (3, 6), (6, 9)), _prompt(9, (3, 6), None)
    assert select_positions(pos, "last").tolist() == [11]
    assert select_positions(pos, "instruction").tolist() == [6, 7, 8]
    assert select_positions(neg, "instruction").tolist() == [3, 4, 5]  # negatives: their content
    assert select_positions(pos, "after_content").tolist() == list(range(6, 12))
    assert select_positions(neg, "after_content").tolist() == list(range(6, 9))
    assert select_positions(pos, "prompt").tolist() == list(range(1, 12))  # never position 0
    assert select_positions(_prompt(4, (0, 2), None), "instruction").tolist() == [1]
    with pytest.raises(ValueError, match="positions must be"):
        select_positions(pos, "first")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no token"):
        select_positions(_prompt(1, (0, 1), None), "last")


def test_reduce_prompt_means_and_frequencies() -> None:
    lat = torch.tensor([[9.0, 9.0], [2.0, 0.0], [4.0, 1.0], [0.0, 0.0]])
    mean, freq = reduce_prompt(lat, torch.tensor([1, 2, 3]))
    assert mean.tolist() == [2.0, pytest.approx(1 / 3)]
    assert freq.tolist() == [pytest.approx(2 / 3), pytest.approx(1 / 3)]


def _stats(seed: int = 0) -> LatentStats:
    """8 latents: 0 fires only with the instruction; 1 a bit more with it; 2 dense; 3 special-token; 4 fires less
    with the instruction; 5 and 6 tie; 7 never fires."""
    g = torch.Generator().manual_seed(seed)
    n, d = 10, 8

    def prompts(positive: bool) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.zeros(n, d)
        mean[:, 0] = (2.0 + torch.rand(n, generator=g)) if positive else 0.0
        mean[:, 1] = torch.rand(n, generator=g) + (1.0 if positive else 0.5)
        mean[:, 2] = torch.rand(n, generator=g) + (1.5 if positive else 1.0)
        mean[:, 3] = (50.0 + torch.rand(n, generator=g)) * (1.0 if positive else 0.0)
        mean[:, 4] = 0.0 if positive else 1.0 + torch.rand(n, generator=g)
        mean[: n // 2, 5:7] = 1.0 if positive else 0.0
        return mean, (mean > 0).float()

    tally = TokenTally.zeros(d)
    tokens = torch.zeros(20, d)
    tokens[1:, 2] = 1.0  # dense: every token but position 0
    tokens[5, 3], tokens[6, 0] = 100.0, 1.0
    special = torch.zeros(20, dtype=torch.bool)
    special[5] = True
    tally.add(tokens, special)
    return contrast(*prompts(True), *prompts(False), tally)


def test_contrast_statistics_and_flags() -> None:
    s = _stats()
    assert s.n_pos == s.n_neg == 10 and s.d_sae == 8
    assert s.freq_pos[0] == 1 and s.freq_neg[0] == 0 and s.mean_neg[0] == 0
    assert s.t[0] > s.t[1] > 0 > s.t[4]
    assert s.density[2] == pytest.approx(1.0) and s.special_share[3] == pytest.approx(1.0)
    flags = s.flags()
    assert flags["dense"].nonzero().flatten().tolist() == [2]
    assert flags["special"].nonzero().flatten().tolist() == [3]
    assert latent_flags(s, 3) == ["special"] and latent_flags(s, 0) == []
    assert s.t[7] == 0 and s.effect[7] == 0  # a dead latent: no division by zero


@pytest.mark.parametrize("kind", SCORES)
def test_rank_puts_the_instruction_latent_first_and_flags_apart(kind) -> None:
    s = _stats()
    clean, flagged = rank(s, kind, top_k=3)
    assert clean[0] == 0 or kind == "mean"  # raw mean favours big activations, but 3 is flagged away
    assert 4 not in clean and 7 not in clean  # never a latent the instruction switches off, or a dead one
    assert 3 not in clean and 2 not in clean and set(flagged) <= {2, 3}
    assert 3 in flagged


def test_rank_is_deterministic_with_ties_by_id() -> None:
    s = _stats()
    assert rank(s, "freq", 8) == rank(_stats(), "freq", 8)
    clean, _ = rank(s, "freq", 8)
    assert clean.index(5) < clean.index(6)  # equal scores: lower id first
    with pytest.raises(ValueError, match="top_k"):
        rank(s, "freq", 0)
    with pytest.raises(ValueError, match="score must be"):
        s.score("best")  # type: ignore[arg-type]


def _noisy(value: float, ulps: int) -> float:
    """`value` moved by `ulps` float32 steps: what another BLAS kernel might return for the same score."""
    x = torch.tensor(value, dtype=torch.float32)
    for _ in range(abs(ulps)):
        x = torch.nextafter(x, torch.tensor(float("inf") if ulps > 0 else float("-inf")))
    return float(x)


def _stats_with_t(t: list[float]) -> LatentStats:
    d = len(t)
    z = torch.zeros(d)
    return LatentStats(z, z, z, z, torch.tensor(t), z, z, z, n_pos=4, n_neg=4)


def test_rank_orders_scores_equal_up_to_float_noise_by_id() -> None:
    """Latents 1, 4 and 6 have the same t but for the last bits, as two CPUs' kernels would compute it: they rank by
    id whichever of them came out largest. Latent 3 is larger by far more than noise and stays ahead."""
    for noise in ((2, -1, 0), (0, 3, -2), (-3, 0, 1)):
        t = [0.5, _noisy(2.5, noise[0]), 0.0, 2.6, _noisy(2.5, noise[1]), -1.0, _noisy(2.5, noise[2]), 2.5 * 0.999]
        assert len({t[1], t[4], t[6]}) > 1  # the noise is real in float32
        clean, flagged = rank(_stats_with_t(t), "t", top_k=8)
        assert clean == [3, 1, 4, 6, 7, 0] and flagged == []
    big = [_noisy(300.0, -5), 1.0, _noisy(300.0, 5)]  # large scores have larger noise; the rounding is relative
    assert rank(_stats_with_t(big), "t", top_k=3)[0] == [0, 2, 1]


def test_tie_key_merges_float_noise_only() -> None:
    values = torch.tensor([1e-3, _noisy(1e-3, 2), 7.0, _noisy(7.0, -2), 7.0 * (1 + 1e-5), 0.0, -4.0, _noisy(-4.0, 1)])
    key = tie_key(values)
    assert key.dtype == torch.float64
    assert key[0] == key[1] and key[2] == key[3] and key[6] == key[7] and key[5] == 0
    assert key[4] > key[2]  # 1e-5 apart is a real difference
    assert torch.allclose(key, values.double(), rtol=2e-6, atol=0)


def test_stats_numpy_round_trip() -> None:
    s = _stats()
    back = LatentStats.from_numpy(s.to_numpy())
    for kind in SCORES:
        assert torch.equal(back.score(kind), s.score(kind))
    assert back.n_pos == s.n_pos and torch.equal(back.special_share, s.special_share)


def test_jaccard_and_constants() -> None:
    assert jaccard([1, 2, 3], [2, 3, 4]) == 0.5 and jaccard([], []) == 1.0 and jaccard([1], []) == 0.0
    assert set(POSITIONS) == {"last", "instruction", "after_content", "prompt"}
