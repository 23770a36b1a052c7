"""Following a generate token by token on the real model: the answers grow to exactly the unwatched ones, a stop
ends them at the next token and is never cached, and rows served from the cache arrive whole at once."""

from __future__ import annotations

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.watch import Watch

PROMPTS = ["Name three colours.", "Write one sentence about the sea."]


def test_watched_answers_grow_into_the_unwatched_ones(engine) -> None:
    prompts = [engine.render(p) for p in PROMPTS]
    decoding = Decoding(max_new_tokens=12)
    plain = engine.generate_each(prompts, [[], []], decoding=decoding, reuse=False)
    seen: list[list[str]] = []
    watched = engine.generate_each(prompts, [[], []], decoding=decoding, reuse=False, watch=Watch(seen.append))
    assert [g.text for g in watched] == [g.text for g in plain]
    assert len(seen) >= 12 and seen[-1] == [g.text for g in plain]
    for row in range(2):
        lengths = [len(texts[row]) for texts in seen]
        assert lengths == sorted(lengths)  # the answers only grow


def test_a_stop_ends_the_answers_at_the_next_token_and_is_not_cached(engine) -> None:
    prompts = [engine.render("Count from one to fifty in words.")]
    decoding = Decoding(max_new_tokens=64)
    calls: list[list[str]] = []

    def on_texts(texts: list[str]) -> None:
        calls.append(texts)
        if len(calls) == 4:
            watch.stop.set()

    watch = Watch(on_texts)
    [stopped] = engine.generate_each(prompts, [[]], decoding=decoding, watch=watch)
    assert not stopped.finished and 3 <= len(stopped.token_ids) <= 5 and stopped.text == calls[-1][0]
    [again] = engine.generate_each(prompts, [[]], decoding=decoding)
    assert not again.cached and len(again.token_ids) > len(stopped.token_ids)


def test_rows_from_the_cache_arrive_whole_before_any_token(engine, monkeypatch) -> None:
    prompts = [engine.render(p) for p in PROMPTS]
    decoding = Decoding(max_new_tokens=6)
    first = engine.generate_each(prompts, [[], []], decoding=decoding)

    def no_model(*args, **kwargs):
        raise AssertionError("a cached answer reached the model")

    monkeypatch.setattr(engine, "_generate", no_model)
    seen: list[list[str]] = []
    again = engine.generate_each(prompts, [[], []], decoding=decoding, watch=Watch(seen.append))
    assert seen == [[g.text for g in first]] and all(g.cached for g in again)
