"""Secret comparisons are constant-time: the card OS, PSAM and host compare PINs, MACs and
cryptograms only through ``crypto.equal`` (hmac.compare_digest), never with ``==``."""
from __future__ import annotations

import ast
import hmac
from pathlib import Path

import pytest

from protocols import crypto

pytestmark = pytest.mark.source_tree   # reads the repository's sources

ROOT = Path(__file__).resolve().parents[2]
SECRET_WORDS = ("pin", "mac", "cryptogram", "expected", "given", "answer", "key")
FILES = ["firmware_sim/card_os.py", "firmware_sim/psam.py", "host/terminal.py", "firmware_sim/hsm.py"]


def _names(node: ast.AST) -> set[str]:
    return {n.id.lower() for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr.lower() for n in ast.walk(node) if isinstance(n, ast.Attribute)}


@pytest.mark.parametrize("rel", FILES)
def test_no_plain_equality_on_secrets(rel: str) -> None:
    tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            operands = [node.left, *node.comparators]
            # comparisons with small constants (lengths, status words, indexes) are not secret comparisons
            if any(isinstance(o, ast.Constant) for o in operands):
                continue
            names = set().union(*(_names(o) for o in operands))
            if any(w in n for n in names for w in SECRET_WORDS) and not any(
                    "len" in n or "tries" in n or "key_id" in n or "key_type" in n or "use" in n or "slot" in n for n in names):
                bad.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not bad, "secret compared with ==:\n" + "\n".join(bad)


def test_equal_is_the_constant_time_comparison() -> None:
    assert crypto.equal(b"\x01\x02", b"\x01\x02") and not crypto.equal(b"\x01\x02", b"\x01\x03")
    assert not crypto.equal(b"\x01", b"\x01\x02")
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)
    hmac.compare_digest = spy
    try:
        crypto.equal(b"ab", b"ab")
    finally:
        hmac.compare_digest = real
    assert calls == [(b"ab", b"ab")]
