"""Suite-wide options: the reader the conformance suite runs on (docs/design.md §2)."""
from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sscard")
    group.addoption("--reader", default=None,
                    help="run the conformance suite on this reader spec only (default: $SSCARD_READER, "
                         "else every emulated path: sim, PC/SC via vpcd, CCID serial)")
    group.addoption("--irreversible", action="store_true",
                    help="also run tests that change a physical card for good (PIN lockout, permanent block)")
    group.addoption("--card-pin", default="123456", help="the PIN of the card under test")
