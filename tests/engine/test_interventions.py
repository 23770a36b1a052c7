"""State-dependent steering on a tiny random Llama, each checked against its definition on the block's own output:
orthogonal decomposition and projection cap (Neuronpedia's), and the SAE clamp that keeps the reconstruction error;
in a mixed batch each applies to its own rows only. KV-cache exactness on the real model is in test_engine."""

from __future__ import annotations

import pytest
import torch

from saif_ui.engine import hooks
from saif_ui.engine.errors import SaifError
from saif_ui.engine.steering import Clamp, Steering, rows
from tests.conftest import random_sae

LAYER = 1


def _ids() -> torch.Tensor:
    return torch.randint(0, 64, (2, 7), generator=torch.Generator().manual_seed(3))


def _outputs(model, steerings) -> tuple[torch.Tensor, torch.Tensor]:
    """The block's output without and with the steerings (a capture registered after the steering hook sees what
    the steering left)."""
    with torch.no_grad():
        with hooks.capture(model, [LAYER], stop=False) as plain:
            model(_ids())
        with hooks.steer(model, steerings, prompt_len=4), hooks.capture(model, [LAYER], stop=False) as steered:
            model(_ids())
    assert hooks.hook_count(model) == 0
    return plain[LAYER], steered[LAYER]


def _direction() -> torch.Tensor:
    return torch.randn(32, generator=torch.Generator().manual_seed(5)) * 3


@pytest.mark.parametrize("factor", [0.0, 0.5, 2.0])
def test_orthogonal_scales_the_component_along_the_direction_only(tiny_llama, factor: float) -> None:
    v = _direction()
    h, out = _outputs(tiny_llama, [Steering(LAYER, v, "all", method="orthogonal", value=factor)])
    u = v / v.norm()
    expected = h + (factor - 1.0) * (h @ u)[..., None] * u
    assert torch.allclose(out[:, 1:], expected[:, 1:], atol=1e-5)
    assert torch.equal(out[:, 0], h[:, 0])  # the attention sink is left alone
    rest = lambda x: x - (x @ u)[..., None] * u  # noqa: E731
    assert torch.allclose(rest(out), rest(h), atol=1e-5)


def test_the_cap_never_lets_the_projection_exceed_its_value(tiny_llama) -> None:
    v = _direction()
    u = v / v.norm()
    h, _ = _outputs(tiny_llama, [])
    cap = float((h[:, 1:] @ u).median())  # about half the positions are above it
    _, out = _outputs(tiny_llama, [Steering(LAYER, v, "generated", method="cap", value=cap)])
    projection, before = out @ u, h @ u
    on = torch.arange(7) >= 3  # `generated` with a 4-token prompt
    assert (projection[:, on] <= cap + 1e-5).all()
    below = (before <= cap) | ~on[None, :]
    assert torch.allclose(out[below], h[below], atol=1e-6) and (before[:, on] > cap).any()


def test_clamp_sets_its_latents_and_keeps_the_rest_and_the_error(tiny_llama) -> None:
    sae = random_sae(32, 64, f"blocks.{LAYER}.hook_resid_post", seed=2, enc_std=0.5)
    chosen = torch.tensor([3, 17])
    targets = torch.tensor([4.0, 0.0])
    clamp = Clamp(LAYER, lambda x: sae.encode(x)[..., chosen], sae.W_dec[chosen].detach(), targets, "random")
    h, out = _outputs(tiny_llama, [clamp])
    with torch.no_grad():
        f = sae.encode(h)
        wanted = f.clone()
        wanted[..., chosen] = targets
        error = h - sae.decode(f)
        # what the clamp leaves: the SAE's decoding of the latents with the chosen ones set, plus the same error
        assert torch.allclose(out[:, 1:], (sae.decode(wanted) + error)[:, 1:], atol=1e-5)
    assert torch.equal(out[:, 0], h[:, 0])
    with pytest.raises(SaifError, match="one target per latent"):
        Clamp(LAYER, sae.encode, sae.W_dec[chosen], torch.tensor([1.0]), "random")


def test_in_a_mixed_batch_each_state_dependent_steering_keeps_to_its_rows(tiny_llama) -> None:
    v = _direction()
    ortho = Steering(LAYER, v, "all", method="orthogonal", value=0.0)
    add = Steering(LAYER, v, "all")
    batch = rows([[ortho], [add]])
    h, out = _outputs(tiny_llama, batch)
    u = v / v.norm()
    assert torch.allclose(out[0, 1:], h[0, 1:] - (h[0, 1:] @ u)[:, None] * u, atol=1e-5)
    assert torch.allclose(out[1], h[1] + v, atol=1e-5)  # the additive row: its vector, not the projection


def test_bad_state_dependent_steerings_are_refused() -> None:
    with pytest.raises(SaifError, match="method must be one of"):
        Steering(LAYER, _direction(), method="scale")  # type: ignore[arg-type]
    with pytest.raises(SaifError, match="needs one non-zero"):
        Steering(LAYER, torch.zeros(32), method="cap", value=1.0)
    assert Steering(LAYER, _direction(), method="cap", value=1.0).key() != Steering(LAYER, _direction()).key()
