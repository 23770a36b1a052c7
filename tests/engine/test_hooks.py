"""Capture and steering hooks on a tiny random Llama: exact values, early stop, positions, and clean removal."""

import contextlib

import pytest
import torch

from saif_ui.engine import hooks
from saif_ui.engine.steering import Steering, rows


def _ids(n: int = 7, batch: int = 2) -> torch.Tensor:
    return torch.randint(0, 64, (batch, n), generator=torch.Generator().manual_seed(1))


def test_capture_matches_output_hidden_states(tiny_llama):
    ids = _ids()
    with torch.no_grad():
        ref = tiny_llama(ids, output_hidden_states=True).hidden_states
        with hooks.capture(tiny_llama, [-1, 0, 2], stop=False) as store:
            tiny_llama(ids)
    # hidden_states[L + 1] is the output of block L; hidden_states[0] is the embeddings.
    assert torch.equal(store[-1], ref[0])
    assert torch.equal(store[0], ref[1])
    assert torch.equal(store[2], ref[3])
    assert hooks.hook_count(tiny_llama) == 0


def test_capture_stops_at_the_deepest_layer(tiny_llama):
    ran: list[int] = []
    handles = [
        block.register_forward_hook(lambda m, a, o, i=i: ran.append(i))
        for i, block in enumerate(tiny_llama.model.layers)
    ]
    try:
        with torch.no_grad(), hooks.capture(tiny_llama, [1], stop=True) as store, pytest.raises(hooks.StopForward):
            tiny_llama(_ids())
    finally:
        for h in handles:
            h.remove()
    assert ran == [0, 1]  # blocks 2 and 3 never ran
    assert 1 in store


def test_steer_adds_the_vector_to_the_chosen_layer_only(tiny_llama):
    ids = _ids()
    vec = torch.randn(32)
    with torch.no_grad():
        ref = tiny_llama(ids, output_hidden_states=True).hidden_states
        with (
            hooks.steer(tiny_llama, [Steering(1, vec, "all")], prompt_len=ids.shape[1]),
            hooks.capture(tiny_llama, [0, 1], stop=False) as store,
        ):
            tiny_llama(ids)
        after = tiny_llama(ids, output_hidden_states=True).hidden_states
    assert torch.equal(store[0], ref[1])  # earlier layer untouched
    # Capture hooks were registered after the steering hook, so they see the steered output.
    torch.testing.assert_close(store[1], ref[2] + vec, rtol=0, atol=1e-6)
    for a, b in zip(after, ref, strict=True):  # baseline restored after exit
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("positions", "expected_on"),
    [("prompt", [1, 1, 1, 1, 0, 0]), ("generated", [0, 0, 0, 1, 1, 1]), ("all", [1, 1, 1, 1, 1, 1])],
)
def test_positions_select_prompt_and_generated_tokens(positions, expected_on):
    s = Steering(0, torch.ones(4), positions)
    assert s.scales(torch.arange(6), prompt_len=4).tolist() == expected_on


def test_decay_follows_xie_formula():
    s = Steering(0, torch.ones(4), "generated", decay=0.5, decay_power=2.0)
    scales = s.scales(torch.arange(3, 7), prompt_len=4)  # t = 0, 1, 2, 3 from the last prompt token
    expected = [1 / (1 + 0.5 * t) ** 2 for t in range(4)]
    torch.testing.assert_close(scales, torch.tensor(expected))


def test_hooks_are_removed_after_an_exception(tiny_llama):
    with contextlib.suppress(RuntimeError), hooks.steer(tiny_llama, [Steering(2, torch.ones(32))], prompt_len=3):
        assert hooks.hook_count(tiny_llama) == 2  # the offset pre-hook and the steering hook
        raise RuntimeError("boom")
    assert hooks.hook_count(tiny_llama) == 0
    with contextlib.suppress(RuntimeError), hooks.capture(tiny_llama, [0, 3]):
        raise RuntimeError("boom")
    assert hooks.hook_count(tiny_llama) == 0


@pytest.mark.parametrize("positions", ["prompt", "generated", "all"])
def test_kv_cache_steering_equals_full_recompute(tiny_llama, positions):
    """Each step's logits with the KV cache equal those of one full steered forward of the whole sequence.

    Logits, not greedy tokens, are compared, within float tolerance: the cached steps run other kernels (one token
    against the cache) than the full forward, and on a random model two tokens' logits may differ by less than that
    noise, so the argmax could differ from one CPU to another."""
    ids = _ids(5, batch=2)
    steering = [Steering(1, torch.randn(32, generator=torch.Generator().manual_seed(3)) * 4, positions, decay=0.3)]
    with torch.no_grad(), hooks.steer(tiny_llama, steering, prompt_len=ids.shape[1]):
        out = tiny_llama.generate(
            ids,
            attention_mask=torch.ones_like(ids),  # token 0 is also the pad id: say that nothing is padding
            max_new_tokens=8,
            do_sample=False,
            use_cache=True,
            pad_token_id=0,
            eos_token_id=None,
            return_dict_in_generate=True,
            output_logits=True,
        )
        full = tiny_llama(out.sequences[:, :-1], use_cache=False).logits[:, ids.shape[1] - 1 :]
    assert out.sequences.shape == (2, 5 + 8) and hooks.hook_count(tiny_llama) == 0
    cached = torch.stack(out.logits, dim=1)
    torch.testing.assert_close(cached, full, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # and the steering matters: unsteered logits of the same sequence differ
        plain = tiny_llama(out.sequences[:, :-1]).logits[:, ids.shape[1] - 1 :]
    assert (plain - full).abs().max() > 1e-2


def test_invalid_steering_is_refused(tiny_llama):
    with pytest.raises(ValueError, match="positions"):
        Steering(0, torch.ones(4), "everywhere")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[batch, d_model\]"):
        Steering(0, torch.ones(2, 3, 4))
    with (
        pytest.raises(ValueError, match="3 rows, the batch has 2"),
        hooks.steer(tiny_llama, [Steering(1, torch.ones(3, 32))], 3),
        torch.no_grad(),
    ):
        tiny_llama(_ids(3))
    with pytest.raises(ValueError, match="out of range"), hooks.steer(tiny_llama, [Steering(9, torch.ones(32))], 3):
        pass


@pytest.mark.parametrize("positions", ["generated", "all"])
def test_per_row_steering_steers_each_row_as_it_alone_would(tiny_llama, positions):
    """A batch whose rows are steered differently (one unsteered, one with two vectors of one kind at two layers,
    one with a decayed vector) gives each row the hidden states the row's own steering gives it in the same batch:
    the per-row matrix is exactly the sum of the row's vectors."""
    ids = _ids(6, batch=3)
    g = torch.Generator().manual_seed(4)
    a, b, c = (torch.randn(32, generator=g) * 3 for _ in range(3))
    per_row = [
        [],
        [Steering(1, a, positions), Steering(1, b, positions), Steering(2, c, positions)],
        [Steering(2, c, positions, decay=0.5)],
    ]
    merged = rows(per_row)
    assert all(s.vector.shape == (3, 32) for s in merged)
    with torch.no_grad():
        with hooks.steer(tiny_llama, merged, prompt_len=6), hooks.capture(tiny_llama, [3], stop=False) as got:
            tiny_llama(ids)
        for i, items in enumerate(per_row):
            with hooks.steer(tiny_llama, items, prompt_len=6), hooks.capture(tiny_llama, [3], stop=False) as alone:
                tiny_llama(ids)
            torch.testing.assert_close(got[3][i], alone[3][i], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got[3][0], got[3][1])  # the rows really were steered differently


def test_rows_keep_a_shared_steering_as_it_is():
    shared = [Steering(1, torch.ones(4), "all")]
    assert rows([shared, list(shared)]) == shared
    assert rows([]) == []
