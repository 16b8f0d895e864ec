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
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware_sim.card_os import CardOS
from firmware_sim.demo import card_path, demo_card, demo_psam, psam_path
from firmware_sim.device import Device
from firmware_sim.image import atomic_write
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from hardware.pcsc import PcscReader
from hardware.pcscd import PrivatePcscd, free_port_block, missing_requirements, vpcd_entry
from hardware.vpcd_link import VpcdLink
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


def emulator_process(port: int, stop: Any) -> None:
    devices: list[Device] = [CardOS(demo_card()), PsamOS(demo_psam())]
    links = [VpcdLink(d, port=port + i).start() for i, d in enumerate(devices)]
    stop.wait()
    for link in links:
        link.stop()


def over_pcsc(debits: int) -> tuple[float, float, int] | str:
    reason = missing_requirements()
    if reason:
        return reason
    daemon = PrivatePcscd()
    os.environ.update(daemon.env)   # before this process's first PC/SC call
    mp = multiprocessing.get_context("spawn")
    try:
        port = free_port_block()
        daemon.start([vpcd_entry(port, READER)])
        stop = mp.Event()
        child = mp.Process(target=emulator_process, args=(port, stop), daemon=True)
        child.start()
        readers = [PcscReader(f"{READER} 00 {i:02d}") for i in range(2)]
        try:
            for r in readers:
                if not r.wait_for_card(15):
                    raise RuntimeError(f"pcscd did not see the card in {r.name}")
            return timed(Terminal(readers[0], readers[1]), debits)
        finally:
            for r in readers:
                r.disconnect()
            stop.set()
            child.join(10)
            if child.is_alive():
                child.kill()
    finally:
        daemon.cleanup()


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
