"""Command-line flags made from a dataclass's fields: type, default, `Literal` choices and the field's docstring as
its help, so a setting's default and its explanation live once, in the config (as sparsify and sae-lens do).

`add_dataclass_args` adds the flags for the fields a command exposes; `dataclass_values` reads them back from the
parsed namespace (each flag's `dest` is its field's name) as keyword arguments for the dataclass.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import textwrap
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, Literal

ArgTarget = argparse.ArgumentParser | argparse._ArgumentGroup


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass (the string literal right under a field), its bases' included."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # no source (a class built at run time): flags without help
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _scalar(hint: Any) -> tuple[Any, bool]:
    """(the type inside `X | None`, whether None was allowed)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0], True
    return hint, False


def add_dataclass_args(
    parser: ArgTarget,
    cls: type,
    fields: Sequence[str],
    *,
    flags: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    parse: Mapping[str, Callable[[str], Any]] | None = None,
) -> None:
    """Add one flag per named field of dataclass `cls`, in the order given.

    Args:
        parser: the parser or argument group to add to.
        cls: the dataclass whose fields define the flags.
        fields: the fields this command exposes (others keep their dataclass default).
        flags: field -> flag name where they differ (`{"do_sample": "sample"}` gives `--sample`); otherwise the field
            name with dashes.
        defaults: field -> this command's own default where it differs from the dataclass's.
        parse: field -> argparse `type` for a field whose type is not a plain int, float, str, bool or Literal.

    A field without a default is a required flag; a bool is a switch (`--x` when it defaults to False, `--no-x`
    when it defaults to True); a `Literal` gives the choices; `X | None` parses as X and defaults to None.

    Example:
        >>> p = argparse.ArgumentParser()
        >>> add_dataclass_args(p, TrainConfig, ["layer", "d_sae"])
        >>> TrainConfig(**dataclass_values(TrainConfig, p.parse_args(["--layer", "3"]), ["layer", "d_sae"]))
    """
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for name in fields:
        if name not in by_name:
            raise KeyError(f"{cls.__name__} has no field {name!r}; its fields: {', '.join(by_name)}")
        default = (defaults or {}).get(name, _default(by_name[name]))
        flag = "--" + (flags or {}).get(name, name).replace("_", "-")
        help_text = docs[name].replace("%", "%%") if name in docs else None  # argparse formats help with %
        hint, optional = _scalar(hints[name])
        kwargs: dict[str, Any] = {"dest": name, "help": help_text}
        if default is dataclasses.MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = default
        if hint is bool and not optional and default is not dataclasses.MISSING:
            if default:
                flag = "--no-" + flag[2:]
            kwargs["action"] = "store_false" if default else "store_true"
        elif typing.get_origin(hint) is Literal and name not in (parse or {}):
            kwargs["choices"] = list(typing.get_args(hint))
        else:
            kwargs["metavar"] = flag[2:].replace("-", "_").upper()  # the flag's name, not the field's
            if name in (parse or {}):
                kwargs["type"] = (parse or {})[name]
            elif hint in (int, float, str):
                kwargs["type"] = hint
            else:
                raise TypeError(f"{cls.__name__}.{name} has type {hint}: give how to parse it in `parse`")
        if help_text and not any(default is v for v in (None, False, True, dataclasses.MISSING)):  # 1.0 == True
            kwargs["help"] = f"{help_text} (default: %(default)s)"
        parser.add_argument(flag, **kwargs)


def dataclass_values(cls: type, args: argparse.Namespace, fields: Sequence[str]) -> dict[str, Any]:
    """The parsed values of the flags `add_dataclass_args` added for `fields`, as keyword arguments for `cls`."""
    known = {f.name for f in dataclasses.fields(cls)}
    missing = [name for name in fields if name not in known]
    if missing:
        raise KeyError(f"{cls.__name__} has no field {missing[0]!r}")
    return {name: getattr(args, name) for name in fields}
