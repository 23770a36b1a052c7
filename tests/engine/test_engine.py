"""The engine on the real SmolLM2: steered generation, hook hygiene, KV-cache exactness, threads, prompt limits
(encoding and its cache: test_forwards.py)."""

import itertools
import threading
from pathlib import Path

import pytest
import torch

from saif_ui.engine import Clamp, Steering
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.hooks import hook_count
from tests.conftest import SHIPPED_SAE_NAMES, random_sae
from tests.exactness import assert_exact_under_the_kv_cache

PROMPTS = ["Translate into French: The cat sleeps on the warm window sill.", "Name a colour."]


def test_zero_steering_equals_plain_and_nonzero_changes_output(engine):
    prompts = [engine.render(PROMPTS[0])]
    plain = engine.generate(prompts, decoding=Decoding(max_new_tokens=12))
    zero = engine.generate(prompts, [Steering(15, torch.zeros(576), "all")], decoding=Decoding(max_new_tokens=12))
    assert zero[0].token_ids == plain[0].token_ids
    push = torch.randn(576, generator=torch.Generator().manual_seed(0))
    steered = engine.generate(
        prompts, [Steering(15, push * 40 / push.norm(), "all")], decoding=Decoding(max_new_tokens=12)
    )
    assert steered[0].token_ids != plain[0].token_ids


def test_generate_each_answers_each_row_as_its_own_call_would(engine):
    """Rows steered differently in one batch (the original / steered / prompted answers of a comparison) get the
    answers that the same batch gives them steered alike: compared on the first new tokens' logits within float
    tolerance, and greedy texts only through the cache they share with `generate`."""
    prompts = [engine.render(PROMPTS[0]), engine.render(PROMPTS[1]), engine.render(PROMPTS[0] + " In French.")]
    push = torch.randn(576, generator=torch.Generator().manual_seed(0))
    steer = [Steering(15, push * 40 / push.norm(), "all")]
    per_row = [[], steer, []]
    mixed = engine.generate_each(prompts, per_row, decoding=Decoding(max_new_tokens=6), reuse=False)
    alike_plain = engine.generate(prompts, decoding=Decoding(max_new_tokens=6), reuse=False)
    alike_steered = engine.generate(prompts, steer, decoding=Decoding(max_new_tokens=6), reuse=False)
    # Row 1 moves with the steering, rows 0 and 2 do not: each matches its own kind's first token.
    assert mixed[0].token_ids[:1] == alike_plain[0].token_ids[:1]
    assert mixed[2].token_ids[:1] == alike_plain[2].token_ids[:1]
    assert mixed[1].token_ids[:1] == alike_steered[1].token_ids[:1]
    assert mixed[1].token_ids != alike_plain[1].token_ids
    # Greedy results share cache entries with `generate`: a mixed batch fills what a single call then reads.
    engine.generate_each(prompts, per_row, decoding=Decoding(max_new_tokens=5))
    again = engine.generate([prompts[1]], steer, decoding=Decoding(max_new_tokens=5))[0]
    assert again.cached
    with pytest.raises(ValueError, match="one per prompt"):
        engine.generate_each(prompts, [[]], decoding=Decoding(max_new_tokens=2))


def test_hooks_are_gone_after_generate_and_after_an_exception(engine):
    prompts = [engine.render("Hi")]
    engine.generate(prompts, [Steering(5, torch.ones(576), "all")], decoding=Decoding(max_new_tokens=2))
    assert hook_count(engine.model) == 0
    with pytest.raises(ValueError, match="width"):
        engine.generate(prompts, [Steering(5, torch.ones(10), "all")], decoding=Decoding(max_new_tokens=2))

    class Boom(RuntimeError):
        pass

    def explode(*_args, **_kwargs):
        raise Boom

    handle = engine.model.lm_head.register_forward_hook(explode)  # fails mid-generate, with steering hooks attached
    try:
        with pytest.raises(Boom):
            engine.generate(
                prompts, [Steering(5, torch.ones(576), "all")], decoding=Decoding(max_new_tokens=2), reuse=False
            )
    finally:
        handle.remove()
    assert hook_count(engine.model) == 0
    first = engine.generate(prompts, decoding=Decoding(max_new_tokens=3), reuse=False)[0].token_ids
    assert first == engine.generate(prompts, decoding=Decoding(max_new_tokens=3), reuse=False)[0].token_ids


def _intervention(kind: str, positions: str) -> list:
    push = torch.randn(576, generator=torch.Generator().manual_seed(1))
    if kind == "clamp":
        sae = random_sae(576, 128, "blocks.12.hook_resid_post", seed=4)
        chosen = torch.tensor([5, 9])
        writes = sae.W_dec[chosen].detach()
        return [
            Clamp(12, lambda h: sae.encode(h)[..., chosen], writes, torch.tensor([40.0, 25.0]), "random", positions)
        ]
    if kind == "add":
        return [Steering(12, push * 60 / push.norm(), positions, decay=0.1)]
    value = {"orthogonal": -30.0, "cap": -8.0}[kind]
    return [Steering(12, push, positions, decay=0.1, method=kind, value=value)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "positions"),
    [("add", "generated"), ("add", "all"), ("orthogonal", "all"), ("cap", "generated"), ("clamp", "all")],
)
def test_kv_cache_steering_equals_full_recompute(engine, kind, positions):
    """Neuronpedia issue 163: with the KV cache, steering must still reach every new token exactly as without it, for
    every intervention (the state-dependent ones read the block's output at each new position).

    Each answer generated with the KV cache (in a left-padded batch) is replayed as one full steered forward of the
    prompt plus the answer: at every step the token chosen must be the full forward's greedy choice, and a finished
    answer must end where the full forward picks an end-of-turn token."""
    prompts = [engine.render(p) for p in PROMPTS]
    steering = _intervention(kind, positions)
    assert_exact_under_the_kv_cache(engine, prompts, steering, 16)


def test_concurrent_steered_and_plain_requests_do_not_mix(engine):
    prompt = [engine.render("Describe the sea in one sentence.")]
    push = torch.randn(576, generator=torch.Generator().manual_seed(2))
    steer = [Steering(10, push * 30 / push.norm(), "all")]
    alone_plain = engine.generate(prompt, decoding=Decoding(max_new_tokens=16))[0].text
    alone_steered = engine.generate(prompt, steer, decoding=Decoding(max_new_tokens=16))[0].text
    assert alone_plain != alone_steered
    results: dict[str, list[str]] = {"plain": [], "steered": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)  # both threads request at once, however the OS schedules them

    def run(kind: str) -> None:
        try:
            start.wait(timeout=60)
            for _ in range(3):
                gen = engine.generate(
                    prompt, steer if kind == "steered" else None, decoding=Decoding(max_new_tokens=16), reuse=False
                )
                results[kind].append(gen[0].text)
        except BaseException as e:  # re-raised below: a thread's exception would otherwise be lost
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in ("plain", "steered")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a generation thread is still running after 10 minutes"
    assert not errors, errors
    assert results["plain"] == [alone_plain] * 3
    assert results["steered"] == [alone_steered] * 3


def test_sampling_is_seeded(engine):
    prompts = [engine.render("Write a word.")]
    a = engine.generate(prompts, decoding=Decoding(max_new_tokens=8, do_sample=True, temperature=1.2, seed=7))
    b = engine.generate(prompts, decoding=Decoding(max_new_tokens=8, do_sample=True, temperature=1.2, seed=7))
    assert a[0].token_ids == b[0].token_ids


def test_penalties_act_on_the_answer_only_through_transformers_processors(engine):
    copy, loop = (
        engine.render("Repeat this sentence exactly: The cat sleeps on the warm window sill."),
        engine.render("Write the word 'cat' ten times."),
    )
    plain = engine.generate([copy, loop], decoding=Decoding(max_new_tokens=40))
    assert "cat, cat, cat, cat" in plain[1].text.lower()  # the model loops unpenalised
    ngram = engine.generate([copy, loop], decoding=Decoding(max_new_tokens=40, no_repeat_ngram_size=2))
    penalty = engine.generate([copy, loop], decoding=Decoding(max_new_tokens=40, repetition_penalty=1.5))
    for answers in (ngram, penalty):
        # the prompt is not counted: copying the passage stays allowed
        assert "warm window sill" in answers[0].text and not answers[1].cached
        assert answers[1].text != plain[1].text
    ids = ngram[1].token_ids
    bigrams = list(itertools.pairwise(ids))
    assert len(bigrams) == len(set(bigrams))  # no bigram twice in the answer


def test_bad_requests_are_clear_errors(engine):
    with pytest.raises(ValueError, match="out of range"):
        engine.encode([engine.render("x")], layers=[30])
    with pytest.raises(TypeError, match="list of rendered prompts"):
        engine.generate(engine.render("x"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no SAE named"):
        engine.encode([engine.render("x")], saes=["missing"])


def test_repeated_greedy_request_is_served_without_the_model(engine):
    prompts = [engine.render("Name a colour.")]
    first = engine.generate(prompts, decoding=Decoding(max_new_tokens=4), reuse=False)[0]
    engine.generate(prompts, decoding=Decoding(max_new_tokens=4))  # fills the cache
    calls = []
    handle = engine.model.register_forward_hook(lambda *a: calls.append(1))
    try:
        again = engine.generate(prompts, decoding=Decoding(max_new_tokens=4))[0]
        assert again.cached and again.token_ids == first.token_ids and not calls
        engine.generate(prompts, decoding=Decoding(max_new_tokens=5))  # another length is another request
        assert calls
    finally:
        handle.remove()


def test_an_over_long_prompt_is_refused_before_the_model_runs(engine, monkeypatch):
    from saif_ui.engine.errors import PromptTooLong

    monkeypatch.setattr(engine.config, "max_prompt_tokens", 64)
    short = engine.render("Say hi.")
    long = engine.render("word " * 100)
    calls = engine.forward_calls
    with pytest.raises(
        PromptTooLong, match=r"the prompt is 1\d\d tokens .*; the limit is 64 \(SAIF_MAX_PROMPT_TOKENS\)"
    ):
        engine.generate([short, long], decoding=Decoding(max_new_tokens=2), reuse=False)
    with pytest.raises(PromptTooLong, match="the limit is 64"):
        engine.encode([long], layers=[1])
    with pytest.raises(PromptTooLong, match=r"200,000 characters, far beyond the limit of 64 tokens"):
        engine.generate(["x" * 200_000], decoding=Decoding(max_new_tokens=2))
    assert engine.forward_calls == calls
    assert engine.generate([short], decoding=Decoding(max_new_tokens=2), reuse=False)[
        0
    ].token_ids  # the limit admits a short prompt


def test_prompt_limit_from_the_environment(monkeypatch):
    from saif_ui.engine.config import EngineConfig
    from saif_ui.engine.errors import SaifError

    monkeypatch.setenv("SAIF_MAX_PROMPT_TOKENS", "2048")
    assert EngineConfig.from_env(saes=[]).max_prompt_tokens == 2048
    monkeypatch.setenv("SAIF_MAX_PROMPT_TOKENS", "lots")
    with pytest.raises(SaifError, match="SAIF_MAX_PROMPT_TOKENS must be a whole number"):
        EngineConfig.from_env(saes=[])
    with pytest.raises(SaifError, match="max_prompt_tokens must be >= 8"):
        EngineConfig(max_prompt_tokens=2)


def test_shipped_saes_are_found_and_their_absence_is_an_error_naming_the_folder(tmp_path, monkeypatch):
    from saif_ui.engine.config import EngineConfig, shipped_saes
    from saif_ui.engine.errors import SaifError

    assert [Path(f).name for f in shipped_saes()] == list(SHIPPED_SAE_NAMES)
    with pytest.raises(SaifError, match=f"no shipped SAE in {tmp_path / 'saes'}"):
        shipped_saes(tmp_path)  # a wheel without its data must not look like an engine with no SAE
    monkeypatch.delenv("SAIF_SAES", raising=False)
    monkeypatch.delenv("SAIF_MODEL", raising=False)
    monkeypatch.setenv("SAIF_DATA_DIR", str(tmp_path))
    with pytest.raises(SaifError, match="no shipped SAE"):
        EngineConfig.from_env()
    assert EngineConfig.from_env(saes=[]).saes == []  # SAEs named explicitly: the shipped ones are not looked for
    monkeypatch.setenv("SAIF_SAES", "")
    assert EngineConfig.from_env().saes == []  # an environment without SAEs, on purpose
