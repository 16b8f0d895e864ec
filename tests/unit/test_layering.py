"""The import rules of docs/design.md §1: arrows only point down (the command line, host/cli/, may also import
firmware_sim/), protocols/ imports nothing of the project, and no product module imports itself back through
other modules (no import cycles)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.source_tree   # the repository's sources, not the installed product

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "protocols": {"protocols"},
    "firmware_sim": {"protocols", "firmware_sim"},
    "hardware": {"protocols", "firmware_sim", "hardware"},
    "host": {"protocols", "hardware", "host"},
}
#: Folders whose modules may import more than the rest of their top-level folder, each with its one-line reason.
ALLOWED_EXTRA: dict[str, tuple[set[str], str]] = {
    "host/cli": ({"firmware_sim"}, "the command line also runs the emulator and the card factory (sscard emulate, "
                                   "card new/batch, psam new); the terminal library beside it stays device-blind"),
}
PROJECT = set(ALLOWED) | {"tests"}
IO_MODULES = {"socket", "threading", "time", "select", "subprocess", "serial", "smartcard", "asyncio"}

#: Import edges (importer, imported) known to close a cycle, each with what removes it. The cycle test
#: ignores them; test_known_cycle_edges_are_still_there fails once one is gone, so its entry is removed.
KNOWN_CYCLE_EDGES: dict[tuple[str, str], str] = {}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


FILES = [(pkg, p) for pkg in ALLOWED for p in sorted((ROOT / pkg).rglob("*.py"))]


@pytest.mark.parametrize("pkg, path", FILES, ids=[str(p.relative_to(ROOT)) for _, p in FILES])
def test_imports_point_down(pkg: str, path: Path) -> None:
    allowed = set(ALLOWED[pkg])
    for folder, (extra, _reason) in ALLOWED_EXTRA.items():
        if path.is_relative_to(ROOT / folder):
            allowed |= extra
    bad = (_imports(path) & PROJECT) - allowed
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
    if pkg == "protocols":
        io = _imports(path) & IO_MODULES
        assert not io, f"{path.relative_to(ROOT)} is sans-I/O but imports {sorted(io)}"


# --- import cycles ---------------------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for _, p in FILES}


def _owner(name: str) -> str | None:
    """The product module that defines ``name`` (a module, or a name inside one), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _module_imports(module: str) -> set[str]:
    """Product modules ``module`` imports anywhere in its file, function-level imports included."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {_owner(a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            for a in node.names:   # `from host import cli` imports the module host.cli
                full = f"{base}.{a.name}"
                found.add(full if full in MODULES else _owner(base))
    return {m for m in found if m and m != module}


GRAPH = {m: _module_imports(m) for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    graph = {m: {d for d in deps if (m, d) not in KNOWN_CYCLE_EDGES} for m, deps in GRAPH.items()}
    cycles = _cycles(graph)
    assert not cycles, f"import cycles between product modules: {cycles}"


@pytest.mark.parametrize("edge", sorted(KNOWN_CYCLE_EDGES), ids=[f"{a}->{b}" for a, b in sorted(KNOWN_CYCLE_EDGES)])
def test_known_cycle_edges_are_still_there(edge: tuple[str, str]) -> None:
    """An allowlisted edge that no longer exists must leave KNOWN_CYCLE_EDGES."""
    importer, imported = edge
    assert imported in GRAPH[importer], f"{importer} no longer imports {imported}: remove it from KNOWN_CYCLE_EDGES"


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_use_the_installed_package(path: Path) -> None:
    """A benchmark runs against the installed package: it neither edits ``sys.path`` nor imports the tests or a
    module's private names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) \
                and node.value.id == "sys":
            bad.append(f"line {node.lineno}: sys.path")
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] == "tests":
                bad.append(f"line {node.lineno}: imports {node.module}")
            bad += [f"line {node.lineno}: private name {a.name}" for a in node.names if a.name.startswith("_")
                    and a.name != "__future__"]
        if isinstance(node, ast.Import):
            bad += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name.split(".")[0] == "tests"]
    assert not bad, f"{path.name}: " + "; ".join(bad)
