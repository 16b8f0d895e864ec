"""Missing prerequisites (system packages a suite needs): skip with the reason, or fail under SSCARD_STRICT.

A developer's ad-hoc ``pytest`` run skips a suite whose package is missing and says which package.
``scripts/run-tests.sh`` (what ``make test`` and CI run) sets ``SSCARD_STRICT=1``; then the same check
fails the test, so a run can never pass by silently skipping the PC/SC, serial-peer or browser suites.
Skips that are about the reader under test (no extended APDUs, an irreversible test) stay skips.
"""
from __future__ import annotations

import os
from typing import NoReturn

import pytest

STRICT_ENV = "SSCARD_STRICT"


def strict() -> bool:
    """True when missing prerequisites must fail the run (``SSCARD_STRICT`` set and not ``0``)."""
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def missing(reason: str) -> NoReturn:
    """Skip the current test because of ``reason`` (which names the missing package), or fail it if strict."""
    if strict():
        pytest.fail(f"{reason} ({STRICT_ENV}=1: a missing prerequisite fails the run; "
                    "install it with `make setup` as root)", pytrace=False)
    pytest.skip(reason)
