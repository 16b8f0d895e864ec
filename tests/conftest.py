"""Suite-wide options (the reader the conformance suite runs on, docs/design.md §2) and fixtures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sscard")
    group.addoption("--reader", default=None,
                    help="run the conformance suite on this reader spec only (default: $SSCARD_READER, "
                         "else every emulated path: sim, PC/SC via vpcd, CCID serial)")
    group.addoption("--irreversible", action="store_true",
                    help="also run tests that change a physical card for good (PIN lockout, permanent block)")
    group.addoption("--card-pin", default="123456", help="the PIN of the card under test")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of an sscard command run as a user runs it: the test's own XDG config folder
    (``tmp_path/xdg``, holding an empty ``sscard`` folder for the user's sscard.toml and the bridge's token) and
    no SSCARD_* variables of the developer's."""
    xdg = tmp_path / "xdg"
    (xdg / "sscard").mkdir(parents=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SSCARD_")}
    return dict(clean, XDG_CONFIG_HOME=str(xdg))
