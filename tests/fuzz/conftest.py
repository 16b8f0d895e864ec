"""Fuzzing with hypothesis: a watchdog turns a hang into a stack dump and a failed run,
since "no hang" is one of the invariants. Budgets: ``tests/fuzz/support.py``."""
from __future__ import annotations

import faulthandler
from collections.abc import Iterator

import pytest

from tests.fuzz.support import WATCHDOG


@pytest.fixture(autouse=True)
def _watchdog() -> Iterator[None]:
    faulthandler.dump_traceback_later(WATCHDOG, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
