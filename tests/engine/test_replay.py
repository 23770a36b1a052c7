"""Replaying the blocks above a layer gives the model's own logits, and gradients flow only to what is added."""

from __future__ import annotations

import pytest
import torch

from saif_ui.engine.errors import SaifError
from saif_ui.engine.hooks import hook_count, steer
from saif_ui.engine.replay import capture_above
from saif_ui.engine.results import pad_stack
from saif_ui.engine.steering import Steering


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    seqs = [torch.randint(0, 64, (n,), generator=g) for n in (9, 5, 12)]
    return pad_stack(seqs)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_replay_equals_a_full_forward_on_a_right_padded_batch(tiny_llama, layer) -> None:
    ids, mask = _batch()
    above = capture_above(tiny_llama, layer, ids, mask)
    assert hook_count(tiny_llama) == 0
    assert above.check(ids, mask) < 1e-4
    full = tiny_llama(input_ids=ids, attention_mask=mask.long(), use_cache=False).logits
    assert torch.allclose(above.logits(above.resid)[mask], full[mask], atol=1e-5)
    assert torch.allclose(above.logits(above.resid, mask), full[mask], atol=1e-5)


def test_a_vector_added_in_the_replay_steers_as_the_steering_hook_does(tiny_llama) -> None:
    ids, mask = _batch()
    vector = torch.randn(32, generator=torch.Generator().manual_seed(2))
    above = capture_above(tiny_llama, 1, ids, mask)
    with torch.no_grad(), steer(tiny_llama, [Steering(1, vector, "all")], ids.shape[1]):
        steered = tiny_llama(input_ids=ids, attention_mask=mask.long(), use_cache=False).logits
    assert torch.allclose(above.logits(above.resid + vector, mask), steered[mask], atol=1e-5)


def test_gradients_reach_the_added_vector_and_not_the_weights(tiny_llama) -> None:
    ids, mask = _batch()
    above = capture_above(tiny_llama, 2, ids, mask)
    delta = torch.zeros(32, requires_grad=True)
    loss = above.logits(above.resid + delta, mask).logsumexp(-1).sum()
    (grad,) = torch.autograd.grad(loss, [delta])
    assert grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny_llama.parameters())


def test_the_last_layer_and_bad_layers(tiny_llama) -> None:
    ids, mask = _batch()
    above = capture_above(tiny_llama, 3, ids, mask)  # nothing above: the final norm and head only
    assert above.calls == [] and above.check(ids, mask) < 1e-4
    with pytest.raises(SaifError, match="out of range"):
        capture_above(tiny_llama, 4, ids, mask)


def test_check_refuses_a_replay_that_differs(tiny_llama) -> None:
    ids, mask = _batch()
    above = capture_above(tiny_llama, 1, ids, mask)
    above.resid = above.resid + 1.0  # as if a block took state the hooks did not record
    with pytest.raises(SaifError, match="differs from the model"):
        above.check(ids, mask)


def test_a_replay_waits_for_the_lock_it_was_given(tiny_llama) -> None:
    # another call's steering hooks live on the same blocks: a replay must not run while such a call holds the lock
    import threading

    ids, mask = _batch()
    lock = threading.RLock()
    above = capture_above(tiny_llama, 1, ids, mask, lock=lock)
    done = threading.Event()

    def replay() -> None:
        above.logits(above.resid)
        done.set()

    with lock:
        worker = threading.Thread(target=replay)
        worker.start()
        assert not done.wait(0.5)
    worker.join(10)
    assert done.is_set()
