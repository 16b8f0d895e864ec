"""APDU/s in-process: at the card-OS level and through the full host engine, and the time of a
full authenticated basic-info read with card + PSAM.

Every figure is a best-of: the APDU rates are the best of 3 rounds of 50,000 APDUs each, the read time the
fastest of 300 reads (the least disturbed by the rest of the machine; these paths do no I/O).

Run: .venv/bin/python benchmarks/inprocess.py
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_card, demo_psam
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from host.engine import ApduEngine
from host.terminal import Terminal

SELECT = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00")
READ = bytes.fromhex("00B2072C0B")
CHALLENGE = bytes.fromhex("0084000008")


ROUNDS = 3


def rate(fn: Callable[[], object], n: int) -> float:
    """Calls per second of ``fn``: the best of ``ROUNDS`` rounds of ``n`` calls."""
    best = 0.0
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main() -> None:
    card = CardOS(demo_card())
    card.power_on()
    card.process(SELECT)
    engine = ApduEngine(InProcessReader(CardOS(demo_card())))
    engine.connect()
    engine.transmit(SELECT)
    n = 50_000
    print(f"APDU/s, best of {ROUNDS} rounds of {n:,} APDUs")
    print(f"{'command':<14}{'card OS APDU/s':>16}{'host engine APDU/s':>20}{'engine/OS':>11}")
    for name, apdu in (("SELECT", SELECT), ("READ RECORD", READ), ("GET CHALLENGE", CHALLENGE)):
        os_rate = rate(functools.partial(card.process, apdu), n)
        eng_rate = rate(functools.partial(engine.transmit, apdu), n)
        print(f"{name:<14}{os_rate:>16,.0f}{eng_rate:>20,.0f}{eng_rate / os_rate:>11.2f}")
    for prof, region in (("guangzhou-gen2", "440100"), ("shenzhen-gen3", "440300")):
        term = Terminal(InProcessReader(CardOS(demo_card(prof))), InProcessReader(PsamOS(demo_psam(region))))
        reads = 300
        best = min(timed(term.read_basic_info) for _ in range(reads))
        print(f"authenticated basic-info read, {prof}: {best * 1000:.3f} ms (best of {reads} reads)")


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
