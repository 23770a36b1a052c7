"""Token sources for SAE training: FAST (one conversation per sequence) and BT (concatenated fixed-length blocks)."""

import logging
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from saif_ui.engine.errors import SaifError
from saif_ui.fast.data import Conversation

log = logging.getLogger(__name__)

Render = Callable[[list[dict[str, str]]], str]
"""Chat template: messages -> the full rendered conversation, special tokens included as text."""
Tokenize = Callable[[str], list[int]]
"""Text -> token ids, adding no special tokens of its own (the rendered text already holds them)."""


@dataclass(frozen=True)
class Sequence:
    """One forward pass worth of tokens and the conversations they come from, in stream order."""

    token_ids: list[int]
    conversation_ids: list[str]
    """FAST: exactly one id. BT: every conversation with at least one token in the block."""


def rendered_stream(
    conversations: Iterable[Conversation], render: Render, tokenize: Tokenize, *, seed: int = 0
) -> Iterator[tuple[str, list[int]]]:
    """Shuffle with `seed`, then yield (id, token ids) per conversation; both sources read exactly this stream."""
    order = list(conversations)
    random.Random(seed).shuffle(order)
    for conversation in order:
        token_ids = tokenize(render(conversation.messages))
        if token_ids:
            yield conversation.id, token_ids


def counted_tokens(length: int, *, exclude_position_zero: bool = True) -> int:
    """How many tokens of a `length`-token sequence count against the budget.

    The harvester drops position 0 of every sequence (attention-sink activations with huge norms), so by default the
    budget counts only positions >= 1: both sources then yield the same number of *training activations*, even though
    FAST, with many short sequences, loses more positions to the exclusion than BT does.
    """
    return max(length - 1, 0) if exclude_position_zero else length


def total_counted(sequences: Iterable[Sequence], *, exclude_position_zero: bool = True) -> int:
    """Budget used by `sequences`, counted the same way the sources count it."""
    return sum(counted_tokens(len(s.token_ids), exclude_position_zero=exclude_position_zero) for s in sequences)


def fast_sequences(
    conversations: Iterable[Conversation],
    render: Render,
    tokenize: Tokenize,
    *,
    token_budget: int,
    max_len: int = 8192,
    seed: int = 0,
    exclude_position_zero: bool = True,
) -> Iterator[Sequence]:
    """FAST: each conversation rendered and tokenized on its own, truncated at `max_len`, one sequence each.

    No concatenation and no fixed blocks (FAST section 3; they truncate at 8,192 tokens). The last sequence is cut so
    the counted total equals `token_budget` exactly, unless the conversations run out first (then a warning is logged).

    Example:
        >>> seqs = list(fast_sequences(train, render, tokenize, token_budget=100_000, max_len=1024))
    """
    _require_at_least(token_budget=(token_budget, 1), max_len=(max_len, 2))
    offset = 1 if exclude_position_zero else 0
    remaining = token_budget
    for conversation_id, token_ids in rendered_stream(conversations, render, tokenize, seed=seed):
        token_ids = token_ids[:max_len]
        usable = counted_tokens(len(token_ids), exclude_position_zero=exclude_position_zero)
        if usable == 0:
            continue  # a lone position 0 gives the harvester nothing
        if usable >= remaining:
            yield Sequence(token_ids[: remaining + offset], [conversation_id])
            return
        remaining -= usable
        yield Sequence(token_ids, [conversation_id])
    log.warning("FAST source ran out of conversations with %d of %d budget tokens unused", remaining, token_budget)


def block_sequences(
    conversations: Iterable[Conversation],
    render: Render,
    tokenize: Tokenize,
    *,
    token_budget: int,
    block_len: int = 2048,
    seed: int = 0,
    exclude_position_zero: bool = True,
) -> Iterator[Sequence]:
    """BT baseline: the FAST stream (same order, same rendering) concatenated and cut into `block_len`-token blocks.

    FAST's BT(F) baseline concatenates chat data into 2,048-token blocks, so blocks start and end mid-conversation and
    one block may hold several. The partial block at the end is dropped; blocks stop before the counted total would
    exceed `token_budget`, so BT uses between `token_budget - (block_len - 1)` and `token_budget` tokens.
    """
    _require_at_least(token_budget=(token_budget, 1), block_len=(block_len, 2))
    per_block = counted_tokens(block_len, exclude_position_zero=exclude_position_zero)
    remaining = token_budget
    pending: list[int] = []
    spans: deque[tuple[str, int, int]] = deque()  # (id, start, end) in stream positions, for conversations in pending
    emitted = 0  # stream position of pending[0]
    for conversation_id, token_ids in rendered_stream(conversations, render, tokenize, seed=seed):
        if remaining < per_block:
            return
        start = emitted + len(pending)
        spans.append((conversation_id, start, start + len(token_ids)))
        pending.extend(token_ids)
        while len(pending) >= block_len and remaining >= per_block:
            block, end = pending[:block_len], emitted + block_len
            del pending[:block_len]
            yield Sequence(block, [cid for cid, lo, hi in spans if lo < end and hi > emitted])
            while spans and spans[0][2] <= end:
                spans.popleft()
            emitted, remaining = end, remaining - per_block
    if remaining >= per_block:
        log.warning("BT source ran out of conversations with %d of %d budget tokens unused", remaining, token_budget)


def _require_at_least(**checks: tuple[int, int]) -> None:
    """Raise ValueError for the first `name=(value, minimum)` below its minimum (lengths need position 0 plus one)."""
    for name, (value, minimum) in checks.items():
        if value < minimum:
            raise SaifError(f"{name} must be at least {minimum}, got {value}")
