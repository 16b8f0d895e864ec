"""The time of a full purse debit (docs/design.md §3.3): SELECT SSSE and the card ID (the PSAM's factors), SELECT
DF04, VERIFY, INITIALIZE FOR PURCHASE, INIT SAM FOR PURCHASE, DEBIT FOR PURCHASE, CREDIT SAM FOR PURCHASE —
card and PSAM — in-process and over PC/SC (pyscard → private pcscd → Debian vpcd → the emulator in its own
process, T=0).

Which figure is which: each is the median of ``--debits`` debits after one warm-up debit, with the best in
brackets. In-process twice: card and PSAM images in memory (the flow's own work), and in files (each debit
writes the card image twice, the counted MAC1 try and the debit, and the PSAM image once, each with fsync).
Over PC/SC the devices keep their images in memory, as ``benchmarks/pcsc_path.py`` does.

Run: .venv/bin/python benchmarks/purse.py [--debits N]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from firmware_sim.card_os import CardOS
from firmware_sim.demo import card_path, demo_card, demo_psam, psam_path
from firmware_sim.device import Device
from firmware_sim.image import atomic_write
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from hardware.pcscd import BenchPcscd, missing_requirements
from host.terminal import Terminal

READER = "sscard purse bench"
PIN = "123456"


def timed(term: Terminal, debits: int) -> tuple[float, float, int]:
    """(median ms, best ms, APDUs of one debit) of ``debits`` debits of 0.01 yuan after a warm-up one."""
    count = _Counter(term)
    term.debit(1, PIN)
    times = []
    for _ in range(debits):
        count.n = 0
        start = time.perf_counter()
        term.debit(1, PIN)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, min(times) * 1000, count.n


class _Counter:
    """Counts the APDUs both readers of ``term`` carry (GET RESPONSEs included)."""

    def __init__(self, term: Terminal) -> None:
        self.n = 0
        for reader in (term.card_reader, term.psam_reader):
            assert reader is not None
            inner: Callable[[bytes], bytes] = reader.transmit

            def transmit(apdu: bytes, inner: Callable[[bytes], bytes] = inner) -> bytes:
                self.n += 1
                return inner(apdu)
            reader.transmit = transmit  # type: ignore[method-assign]  # counting wrapper


def make_devices() -> list[Device]:
    """The demo card and its PSAM, built in the emulator process."""
    return [CardOS(demo_card()), PsamOS(demo_psam())]


def over_pcsc(debits: int) -> tuple[float, float, int] | str:
    reason = missing_requirements()
    if reason:
        return reason
    with BenchPcscd(READER) as vpcd, vpcd.serve(2, make_devices) as (card_reader, psam_reader):
        return timed(Terminal(card_reader, psam_reader), debits)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--debits", type=int, default=200, help="debits to take the median of")
    args = parser.parse_args()
    print(f"full purse debit, card + PSAM: median of {args.debits} debits (best in brackets)")
    memory = Terminal(InProcessReader(CardOS(demo_card())), InProcessReader(PsamOS(demo_psam())))
    ms, best, n = timed(memory, args.debits)
    print(f"  in-process, images in memory      {ms:7.3f} ms ({best:.3f})   {n} APDUs")
    with tempfile.TemporaryDirectory() as tmp:
        card_file, psam_file = Path(tmp) / "card.json", Path(tmp) / "psam.json"
        atomic_write(card_file, card_path().read_text())
        atomic_write(psam_file, psam_path().read_text())
        files = Terminal(InProcessReader(CardOS.from_file(card_file)), InProcessReader(PsamOS.from_file(psam_file)))
        ms, best, n = timed(files, args.debits)
        print(f"  in-process, images in files       {ms:7.3f} ms ({best:.3f})   {n} APDUs (3 fsynced writes)")
    pcsc = over_pcsc(args.debits)
    if isinstance(pcsc, str):
        print(f"  PC/SC: skipped: {pcsc}")
    else:
        ms, best, n = pcsc
        print(f"  PC/SC (vpcd, T=0), in memory      {ms:7.3f} ms ({best:.3f})   {n} APDUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
