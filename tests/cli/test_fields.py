"""Flags made from dataclass fields: the field's type, default, choices and docstring become the flag's, and the
parsed namespace builds the dataclass back."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

import pytest

from saif_ui.cli import build_parser
from saif_ui.cli.fields import add_dataclass_args, dataclass_values, field_docs
from saif_ui.fast.config import PipelineConfig, TrainConfig


@dataclass(frozen=True)
class Toy:
    """A config with one field of each kind the helper handles."""

    layer: int
    """Which block (100% required)."""
    mode: Literal["a", "b"] = "a"
    """How to do it."""
    rate: float = 0.5
    budget: int | None = None
    """At most this many (None: no limit)."""
    loud: bool = False
    """Say more."""
    keep: bool = True
    """Keep what exists."""
    pairs: tuple[int, ...] = ()


FIELDS = ["layer", "mode", "rate", "budget", "loud", "keep"]


def _parser(**kw: object) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_dataclass_args(p, Toy, FIELDS, **kw)  # type: ignore[arg-type]
    return p


def test_field_docstrings_are_read_from_the_source() -> None:
    docs = field_docs(Toy)
    assert docs["mode"] == "How to do it." and docs["budget"] == "At most this many (None: no limit)."
    assert "rate" not in docs and "pairs" not in docs


def test_defaults_types_choices_and_switches_come_from_the_fields() -> None:
    args = _parser().parse_args(["--layer", "3"])
    assert Toy(**dataclass_values(Toy, args, FIELDS)) == Toy(layer=3)
    args = _parser().parse_args(["--layer", "3", "--mode", "b", "--rate", "2", "--budget", "7", "--loud", "--no-keep"])
    assert Toy(**dataclass_values(Toy, args, FIELDS)) == Toy(3, "b", 2.0, 7, True, False)
    with pytest.raises(SystemExit):
        _parser().parse_args([])  # a field without a default is a required flag
    with pytest.raises(SystemExit):
        _parser().parse_args(["--layer", "3", "--mode", "c"])  # Literal choices are enforced


def test_help_is_the_docstring_with_the_default() -> None:
    text = _parser().format_help()
    assert "How to do it. (default: a)" in text and "Which block (100% required)." in text
    assert "--no-keep" in text and "Keep what exists." in text


def test_flag_names_defaults_and_parsers_can_differ_from_the_field() -> None:
    p = argparse.ArgumentParser()
    add_dataclass_args(
        p, Toy, ["layer", "loud", "pairs"], flags={"loud": "verbose"}, defaults={"layer": 8},
        parse={"pairs": lambda s: tuple(int(x) for x in s.split(","))},
    )  # fmt: skip
    args = p.parse_args(["--verbose", "--pairs", "1,2"])
    assert dataclass_values(Toy, args, ["layer", "loud", "pairs"]) == {"layer": 8, "loud": True, "pairs": (1, 2)}
    assert "PAIRS" in p.format_help() and "VERBOSE" not in p.format_help()


def test_unknown_fields_and_unparsable_types_are_refused_by_name() -> None:
    with pytest.raises(KeyError, match="'lyer'"):
        add_dataclass_args(argparse.ArgumentParser(), Toy, ["lyer"])
    with pytest.raises(TypeError, match=r"Toy\.pairs"):
        add_dataclass_args(argparse.ArgumentParser(), Toy, ["pairs"])
    with pytest.raises(KeyError, match="'lyer'"):
        dataclass_values(Toy, argparse.Namespace(), ["lyer"])


def test_train_sae_defaults_are_the_configs_defaults() -> None:
    args = build_parser().parse_args(["train-sae", "--layer", "5", "--out", "x"])
    assert (args.d_sae, args.lr, args.k, args.batch_size, args.method, args.resume) == (
        TrainConfig(layer=5).d_sae, TrainConfig(layer=5).lr, TrainConfig(layer=5).k, TrainConfig(layer=5).batch_size,
        "fast", PipelineConfig.of(TrainConfig(layer=5)).resume,
    )  # fmt: skip
    args = build_parser().parse_args(
        ["train-sae", "--layer", "5", "--out", "x", "--l1", "2", "--ifbench", "--no-resume"]
    )
    assert (args.l1_coefficient, args.include_ifbench, args.resume) == (2.0, True, False)
