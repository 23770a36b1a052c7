"""Tests for saif_ui.fast.sources: FAST keeps conversations apart, BT packs fixed blocks, both spend the same budget."""

import logging
import re
from collections.abc import Callable, Iterator

import pytest

from saif_ui.fast.data import Conversation
from saif_ui.fast.sources import Sequence, block_sequences, fast_sequences, rendered_stream, total_counted

BOS, START, END = "<bos>", "<|im_start|>", "<|im_end|>"


class FakeTokenizer:
    """Whitespace tokens with a growing vocab; markers get fixed ids so tests can find them in the id stream."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {BOS: 0, START: 1, END: 2}
        self.words: dict[int, str] = {0: BOS, 1: START, 2: END}

    def __call__(self, text: str) -> list[int]:
        ids = []
        for word in text.split():
            if word not in self.vocab:
                self.vocab[word] = len(self.vocab)
                self.words[self.vocab[word]] = word
            ids.append(self.vocab[word])
        return ids

    def owners(self, token_ids: list[int]) -> list[str]:
        """Conversation ids named by content words ("<id>w<k>"), in order of appearance."""
        found = [m.group(1) for t in token_ids if (m := re.fullmatch(r"(c\d+)w\d+", self.words[t]))]
        return list(dict.fromkeys(found))


def render(messages: list[dict[str, str]]) -> str:
    return " ".join([BOS] + [f"{START} {m['role']} {m['content']} {END}" for m in messages])


def chats(count: int = 30) -> list[Conversation]:
    """Conversations of varied length whose every content word names the conversation ("c7w3")."""
    out = []
    for i in range(count):
        words = [f"c{i}w{k}" for k in range(3 + (i * 7) % 40)]
        half = len(words) // 2
        messages = [
            {"role": "user", "content": " ".join(words[:half])},
            {"role": "assistant", "content": " ".join(words[half:])},
        ]
        out.append(Conversation(id=f"c{i}", messages=messages))
    return out


def test_fast_sequence_holds_exactly_one_conversation() -> None:
    tokenize = FakeTokenizer()
    sequences = list(fast_sequences(chats(), render, tokenize, token_budget=10_000, max_len=4096))
    assert len(sequences) == 30
    for seq in sequences:
        assert seq.token_ids[0] == 0 and seq.token_ids.count(0) == 1  # one conversation start, at position 0
        assert tokenize.owners(seq.token_ids) == seq.conversation_ids
        assert len(seq.conversation_ids) == 1
        assert seq.token_ids[-1] == 2  # not truncated: ends with the conversation's own end marker


def test_fast_truncates_at_max_len_without_joining() -> None:
    tokenize = FakeTokenizer()
    sequences = list(fast_sequences(chats(), render, tokenize, token_budget=10_000, max_len=16))
    assert max(len(s.token_ids) for s in sequences) == 16
    assert all(s.token_ids.count(0) == 1 and len(tokenize.owners(s.token_ids)) == 1 for s in sequences)


def test_bt_blocks_are_fixed_length_and_span_conversations() -> None:
    tokenize = FakeTokenizer()
    blocks = list(block_sequences(chats(), render, tokenize, token_budget=10_000, block_len=32))
    assert blocks and all(len(b.token_ids) == 32 for b in blocks)
    assert any(len(b.conversation_ids) >= 2 for b in blocks)
    assert any(b.token_ids.count(0) >= 2 for b in blocks)  # a block holds two conversation starts
    for block in blocks:  # provenance recorded = conversations whose content is in the block (markers excepted)
        assert set(tokenize.owners(block.token_ids)) <= set(block.conversation_ids)


def test_both_sources_read_the_same_stream_in_the_same_order() -> None:
    tokenize = FakeTokenizer()
    fast = list(fast_sequences(chats(), render, tokenize, token_budget=10_000, max_len=4096, seed=3))
    blocks = list(block_sequences(chats(), render, tokenize, token_budget=10_000, block_len=32, seed=3))
    fast_stream = [t for s in fast for t in s.token_ids]
    block_stream = [t for b in blocks for t in b.token_ids]
    assert len(fast_stream) - len(block_stream) < 32  # only the partial last block is missing
    assert block_stream == fast_stream[: len(block_stream)]
    block_ids = list(dict.fromkeys(c for b in blocks for c in b.conversation_ids))
    spans, start = [], 0  # each conversation's [start, end) in the shared stream, from its FAST sequence
    for seq in fast:
        spans.append((seq.conversation_ids[0], start, start + len(seq.token_ids)))
        start += len(seq.token_ids)
    for k, block in enumerate(blocks):  # provenance is exactly the conversations overlapping the block
        assert block.conversation_ids == [cid for cid, lo, hi in spans if lo < 32 * (k + 1) and hi > 32 * k]
    assert len(block_ids) > 1 and block_ids == [s.conversation_ids[0] for s in fast][: len(block_ids)]


@pytest.mark.parametrize("exclude_position_zero", [True, False])
@pytest.mark.parametrize("budget", [1, 57, 300, 555])
def test_both_sources_respect_the_same_token_budget(budget: int, exclude_position_zero: bool) -> None:
    kwargs = {"token_budget": budget, "exclude_position_zero": exclude_position_zero}
    fast = list(fast_sequences(chats(), render, FakeTokenizer(), max_len=4096, **kwargs))
    blocks = list(block_sequences(chats(), render, FakeTokenizer(), block_len=32, **kwargs))
    per_block = 31 if exclude_position_zero else 32
    assert total_counted(fast, exclude_position_zero=exclude_position_zero) == budget
    bt_used = total_counted(blocks, exclude_position_zero=exclude_position_zero)
    assert budget - per_block < bt_used <= budget
    assert len(blocks) == budget // per_block


def test_position_zero_is_not_counted_by_default() -> None:
    fast = list(fast_sequences(chats(), render, FakeTokenizer(), token_budget=100))
    assert sum(len(s.token_ids) for s in fast) == 100 + len(fast)


def test_order_is_seeded() -> None:
    def order(seed: int) -> list[str]:
        return [cid for cid, _ in rendered_stream(chats(), render, FakeTokenizer(), seed=seed)]

    assert order(0) == order(0)
    assert order(0) != order(1)
    assert sorted(order(0)) == sorted(c.id for c in chats())


def test_running_out_of_data_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="saif_ui.fast.sources"):
        fast = list(fast_sequences(chats(3), render, FakeTokenizer(), token_budget=10**6))
        blocks = list(block_sequences(chats(3), render, FakeTokenizer(), token_budget=10**6, block_len=8))
    assert len(fast) == 3 and blocks
    assert [r.message.split(" ran out")[0] for r in caplog.records] == ["FAST source", "BT source"]


@pytest.mark.parametrize(
    ("factory", "kwargs", "match"),
    [
        (fast_sequences, {"token_budget": 0}, "token_budget"),
        (fast_sequences, {"token_budget": 10, "max_len": 1}, "max_len"),
        (block_sequences, {"token_budget": 10, "block_len": 1}, "block_len"),
    ],
)
def test_invalid_lengths_raise(factory: Callable[..., Iterator[Sequence]], kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        list(factory(chats(), render, FakeTokenizer(), **kwargs))


def test_sequence_is_a_plain_value() -> None:
    assert Sequence([1, 2], ["a"]) == Sequence([1, 2], ["a"])


def test_real_chat_template_keeps_fast_sequences_apart(engine) -> None:
    """The engine's own tokenizer and chat template (the converted model in the cache dir), as the harvester uses."""
    tok = engine.tokenizer
    im_start = tok.convert_tokens_to_ids(START)

    def real_render(messages: list[dict[str, str]]) -> str:
        return engine.chat.render(messages, add_generation_prompt=False, system_prompt=True)

    convs = [
        Conversation(
            id=f"r{i}",
            messages=[{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"Answer {i}."}],
        )
        for i in range(6)
    ]
    fast = list(fast_sequences(convs, real_render, engine.chat.tokenize, token_budget=10_000))
    assert len(fast) == 6 and sorted(s.conversation_ids[0] for s in fast) == [c.id for c in convs]
    for seq in fast:  # default system prompt + user + assistant, nothing from another conversation
        assert seq.token_ids[0] == im_start and seq.token_ids.count(im_start) == 3
        index = seq.conversation_ids[0][1:]
        text = tok.decode(seq.token_ids)
        assert f"Question {index}?" in text and f"Answer {index}." in text and text.count("Question") == 1
    blocks = list(block_sequences(convs, real_render, engine.chat.tokenize, token_budget=10_000, block_len=64))
    assert blocks and all(len(b.token_ids) == 64 for b in blocks)
    assert any(len(b.conversation_ids) >= 2 for b in blocks)
    assert [t for b in blocks for t in b.token_ids] == [t for s in fast for t in s.token_ids][: 64 * len(blocks)]
