"""The import rules of DESIGN.md §1: arrows only point down; protocols/ imports nothing of the project."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "protocols": {"protocols"},
    "firmware_sim": {"protocols", "firmware_sim"},
    "hardware": {"protocols", "firmware_sim", "hardware"},
    "host": {"protocols", "hardware", "host"},
}
PROJECT = set(ALLOWED) | {"tests"}
IO_MODULES = {"socket", "threading", "time", "select", "subprocess", "serial", "smartcard", "asyncio"}


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
    bad = (_imports(path) & PROJECT) - ALLOWED[pkg]
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
    if pkg == "protocols":
        io = _imports(path) & IO_MODULES
        assert not io, f"{path.relative_to(ROOT)} is sans-I/O but imports {sorted(io)}"
