"""The import rules of the package, read from the source with `ast` (every import, inside functions too)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1] / "saif_ui"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(ROOT.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Nodes inside `if TYPE_CHECKING:` blocks (imports for annotations only, never run)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for n in ast.walk(node)}
    return out


def _resolve(name: str) -> str | None:
    """The saif_ui module a dotted import name lands in (a symbol's module, or the package)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> dict[str, set[str]]:
    """Every name `module` imports (external packages by top-level name, saif_ui ones by module), run-time only."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    internal: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix for a in node.names]
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names = [arg.value]
        for name in names:
            if name.split(".")[0] == "saif_ui":
                target = _resolve(name)
                if target and target != module:
                    internal.add(target)
            else:
                external.add(name.split(".")[0])
    return {"internal": internal, "external": external}


GRAPH = {m: imports(m) for m in MODULES}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_parser_sees_the_package() -> None:
    assert {"saif_ui.engine.engine", "saif_ui.cli", "saif_ui.service", "saif_ui.service.backend"} <= set(MODULES)
    assert "saif_ui.service.backend" in GRAPH["saif_ui.service"]["internal"]
    assert "saif_ui.engine.engine" in GRAPH["saif_ui.engine.shared"]["internal"]
    assert "torch" in GRAPH["saif_ui.engine.engine"]["external"]


def test_no_import_cycles_not_even_through_function_local_imports() -> None:
    g = nx.DiGraph([(m, t) for m, e in GRAPH.items() for t in e["internal"]])
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_the_cli_is_imported_by_nothing_in_the_library() -> None:
    offenders = {
        m: sorted(t for t in e["internal"] if _room(t) == "cli")
        for m, e in GRAPH.items()
        if _room(m) != "cli" and m != "saif_ui.__main__"
    }
    assert not {m: t for m, t in offenders.items() if t}


@pytest.mark.parametrize(
    ("room", "allowed"),
    [
        ("engine", {"engine", "resources"}),
        ("fast", {"engine", "fast", "provenance", "resources"}),
        ("saif", {"engine", "fast", "saif", "provenance", "resources"}),
        ("provenance", {"resources"}),
        ("resources", set()),  # where the data is: a leaf every room may import, the UI's tabs included
    ],
)
def test_imports_point_inward(room: str, allowed: set[str]) -> None:
    assert any(_room(m) == room for m in GRAPH), f"no module in room {room}"
    bad = {
        m: sorted(t for t in e["internal"] if _room(t) not in allowed | {""})
        for m, e in GRAPH.items()
        if _room(m) == room
    }
    assert not {m: t for m, t in bad.items() if t}


LIBRARY = {"engine", "fast", "saif", "provenance"}
"""The rooms of the library: the science and what it runs on."""


def test_the_library_imports_neither_the_service_layer_nor_the_ui() -> None:
    bad = {
        m: sorted(t for t in e["internal"] if _room(t) in ("service", "ui", "cli"))
        for m, e in GRAPH.items()
        if _room(m) in LIBRARY
    }
    assert not {m: t for m, t in bad.items() if t}


def test_the_service_layer_imports_the_library_only() -> None:
    bad = {
        m: sorted(t for t in e["internal"] if _room(t) not in LIBRARY | {"service", ""})
        for m, e in GRAPH.items()
        if _room(m) == "service"
    }
    assert not {m: t for m, t in bad.items() if t}
    assert not [m for m, e in GRAPH.items() if _room(m) == "service" and e["external"] & {"gradio", "torch"}]


def test_the_ui_reaches_the_library_only_through_the_service_package() -> None:
    bad = {
        m: sorted(t for t in e["internal"] if _room(t) in LIBRARY or (_room(t) == "service" and t != "saif_ui.service"))
        for m, e in GRAPH.items()
        if _room(m) == "ui"
    }
    assert not {m: t for m, t in bad.items() if t}


def test_the_rooms_import_each_other_without_a_cycle() -> None:
    rooms = nx.DiGraph((_room(m), _room(t)) for m, e in GRAPH.items() for t in e["internal"] if _room(m) != _room(t))
    rooms.remove_nodes_from([""])  # the package's own __init__ / __main__: the entry points, above every room
    assert nx.is_directed_acyclic_graph(rooms), f"cycles between rooms: {list(nx.simple_cycles(rooms))}"
    assert {"engine", "fast", "saif", "service", "ui", "cli"} <= set(rooms)


def test_gradio_only_in_the_ui_and_no_torch_there() -> None:
    assert not [m for m, e in GRAPH.items() if "gradio" in e["external"] and _room(m) != "ui"]
    assert not [m for m, e in GRAPH.items() if "torch" in e["external"] and _room(m) == "ui"]
