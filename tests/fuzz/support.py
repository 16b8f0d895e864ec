"""Budgets and invariants shared by the fuzz tests.

``SSCARD_FUZZ_SCALE`` multiplies every example budget (default 1: the whole folder runs in well under a
minute in CI); ``tests/fuzz/long_run.py`` and ``make fuzz`` raise it.
"""
from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("SSCARD_FUZZ_SCALE", "1")))
WATCHDOG = float(os.environ.get("SSCARD_FUZZ_WATCHDOG", str(120 * SCALE)))


def budget(n: int) -> settings:
    """``n`` examples in CI, ``n * SSCARD_FUZZ_SCALE`` in long runs; no deadline (tests never time things)."""
    return settings(max_examples=n * SCALE, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def valid_sw(sw: int) -> bool:
    """ISO 7816-4 §5.1.3: SW1 is 61..6F or 90..9F (60 is a T=0 procedure byte, never a status)."""
    return 0x61 <= sw >> 8 <= 0x6F or 0x90 <= sw >> 8 <= 0x9F


# The card's conventions for data with a status other than 9000 (firmware_sim/card_os.py):
#   SELECT of a blocked application: FCI ‖ 6283 · READ BINARY past the end: data ‖ 6282 ·
#   GET RESPONSE handing out part of a long answer: data ‖ 61xx.  Everything else: SW only.
def data_allowed(ins: int, sw: int) -> bool:
    return (ins == 0xA4 and sw == 0x6283) or (ins == 0xB0 and sw == 0x6282) or (ins == 0xC0 and sw >> 8 == 0x61)


def diff_paths(a: Any, b: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Where two JSON documents differ, as key paths (tuples: key names such as "DF04.RK" hold dots)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in a.keys() | b.keys():
            if k not in a or k not in b:
                out.append(path + (k,))
            else:
                out += diff_paths(a[k], b[k], path + (k,))
        return out
    return [] if a == b else [path]
