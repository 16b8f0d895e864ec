"""APDU/s and basic-info read time through pyscard → pcscd → vpcd → emulator.

Every figure is printed beside the ceiling of the same path measured in the same run with a minimal
responder (9000 to everything), so the numbers say how much the emulator itself costs. Also shows the
per-APDU latency with the TCP ACK fix of ``hardware.vpcd_link`` disabled (see its module docstring).
The emulator runs in its own process, as ``sscard emulate --vpcd`` does, so it does not share the GIL
with the pyscard client.

Which figure is which: the APDU rates (and ms/APDU) are the best of 3 interleaved rounds of ``--apdus`` APDUs after
a warm-up round; the basic-info read time, its floor and the floor with host work between its exchanges are
medians of ``--reads`` each, taken in ten alternating rounds; the ACK-fix-off latencies are one round of
``--slow-apdus`` APDUs (each takes a delayed-ACK timeout, so they barely vary).

Needs pcscd and vsmartcard-vpcd (``make setup``); runs its own private pcscd, leaving a system one alone.
Usage: ``.venv/bin/python benchmarks/pcsc_path.py [--apdus N] [--reads N]``
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time
import timeit
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, NamedTuple

from firmware_sim.device import Device, DeviceWrapper, MinimalDevice
from hardware.pcsc import PcscReader
from hardware.pcscd import BenchPcscd, missing_requirements

READER = "sscard bench"
TARGET_APDU_S = 1500
TARGET_READ_MS = 15.0
SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
MINIMAL_ATR = bytes.fromhex("3B6D0000") + b"sscard-bench!"   # the ceiling's device: no card logic at all


LIVE, RECORD, REPLAY = 0, 1, 2


class Switchable(DeviceWrapper):
    """A device that, as ``mode`` says, answers itself (LIVE), answers itself and keeps its answers (RECORD: a
    new recording each time the mode turns to it), or answers from that recording with no logic (REPLAY). One
    emulator process serves both the read and its replay, so rounds of each can alternate."""

    def __init__(self, device: Device, mode: Any) -> None:
        super().__init__(device)
        self.mode = mode
        self.recording: list[bytes] = []
        self.next, self.last_mode = 0, LIVE

    def process(self, apdu: bytes) -> bytes:
        mode = self.mode.value
        if mode != self.last_mode:
            self.last_mode, self.next = mode, 0
            if mode == RECORD:
                self.recording = []
        if mode == REPLAY:
            response = self.recording[self.next % len(self.recording)]
            self.next += 1
            return response
        response = self.device.process(apdu)
        if mode == RECORD:
            self.recording.append(response)
        return response


def make_devices(kinds: list[str], mode: Any = None) -> list[Device]:
    """``minimal`` / ``card`` (the demo card) / ``psam`` (its city's PSAM), built in the emulator process;
    with a shared ``mode``, the card and PSAM are ``Switchable``."""
    devices: list[Device] = []
    for kind in kinds:
        if kind == "minimal":
            devices.append(MinimalDevice(MINIMAL_ATR))
            continue
        from firmware_sim import demo
        from firmware_sim.card_os import CardOS
        from firmware_sim.psam import PsamOS
        card = CardOS(demo.demo_card())
        device: Device = card if kind == "card" else PsamOS(demo.demo_psam(card.image.region))
        devices.append(device if mode is None else Switchable(device, mode))
    return devices


Exchange = tuple[int, bytes, bytes]  # slot (0 card, 1 PSAM), command, response


class RecordingReader:
    """A reader that logs each exchange with its slot number in a log its readers share (everything else is
    delegated)."""

    def __init__(self, inner: PcscReader, slot: int, log: list[Exchange]) -> None:
        self.inner, self.slot, self.log = inner, slot, log

    def transmit(self, apdu: bytes) -> bytes:
        response = self.inner.transmit(apdu)
        self.log.append((self.slot, apdu, response))
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Bench:
    """The emulator's vpcd reader on a private pcscd, and the mode its ``Switchable`` devices share."""

    def __init__(self, vpcd: BenchPcscd) -> None:
        self.vpcd = vpcd
        self.mode = vpcd.mp.Value("i", LIVE, lock=False)

    def serve(self, kinds: list[str], **link_kw: Any) -> AbstractContextManager[list[PcscReader]]:
        """Emulate ``kinds`` in slots 0, 1 … from a child process; yield connected readers."""
        return self.vpcd.serve(len(kinds), make_devices, kinds, self.mode, **link_kw)

    def rates(self, loads: list[tuple[str, list[bytes]]], n: int, rounds: int = 3, **link_kw: Any) -> list[float]:
        """Seconds per APDU for each (device kind, APDU cycle), one slot each. Rounds are interleaved so
        drift hits all alike; the best round of ``n`` APDUs counts."""
        with self.serve([kind for kind, _ in loads], **link_kw) as readers:
            best = [float("inf")] * len(loads)
            for r in range(rounds + 1):
                for i, (reader, (_, apdus)) in enumerate(zip(readers, loads, strict=True)):
                    count = n if r else min(n, 10 * len(apdus))  # round 0 is the warm-up
                    start = time.perf_counter()
                    for k in range(count):
                        reader.transmit(apdus[k % len(apdus)])
                    if r:
                        best[i] = min(best[i], (time.perf_counter() - start) / count)
            return best


class ReadFigures(NamedTuple):
    read_ms: float           # median of the reads
    floor_ms: float          # median of the replays
    worked_floor_ms: float   # median of the replays with ``work_us`` of host work before each exchange
    work_us: float           # that work in a loop (best of 5 rounds)
    exchanges: list[Exchange]


def basic_info_read(bench: Bench, reads: int, rounds: int = 10) -> ReadFigures:
    """An authenticated basic-info read (card + PSAM over PC/SC), its own floor, and what host work costs between
    its exchanges.

    The floor: the recorded read's exchanges sent back-to-back inside the same two transactions, answered from
    the recording (same bytes, same count, no logic on either side). The worked floor: the same with a fixed piece
    of the read's own work (decoding its EF06 answer) before each exchange, which shows how much slower Python runs
    between pcscd's turns than in a loop. Rounds of the three alternate, from the same emulator process and
    readers, so drift hits all alike."""
    from host.terminal import Terminal
    from protocols.profile import RecordFile
    from protocols.tlv import simple_decode
    with bench.serve(["card", "psam"]) as (card_reader, psam_reader):
        log: list[Exchange] = []
        recorded = Terminal(RecordingReader(card_reader, 0, log), RecordingReader(psam_reader, 1, log))
        assert recorded.read_basic_info().authenticated  # warm-up, and proof the flow authenticates
        log.clear()
        bench.mode.value = RECORD
        recorded.read_basic_info()
        exchanges = list(log)
        ef06 = recorded.card.profile.ssse.ef("EF06")
        assert isinstance(ef06, RecordFile)
        ef06_records = exchanges[-1][2][:-2]          # the read ends with EF06's records

        def work() -> None:
            for item, (_, value) in zip(ef06.items, simple_decode(ef06_records), strict=True):
                item.decode_value(value)

        work_us = min(timeit.repeat(work, number=2000, repeat=5)) / 2000 * 1e6

        def replay(between: Callable[[], None] | None) -> None:
            with card_reader.transaction(), psam_reader.transaction():
                for slot, apdu, _ in exchanges:
                    if between is not None:
                        between()
                    (card_reader, psam_reader)[slot].transmit(apdu)

        terminal = Terminal(card_reader, psam_reader)       # the timed reads: as an application runs them
        terminal.read_basic_info()
        runs: list[tuple[int, Callable[[], Any]]] = [
            (LIVE, terminal.read_basic_info), (REPLAY, lambda: replay(None)), (REPLAY, lambda: replay(work))]
        times: list[list[float]] = [[] for _ in runs]
        per_round = max(1, reads // rounds)
        for _ in range(rounds):
            for (mode, run), kept in zip(runs, times, strict=True):
                bench.mode.value = mode
                for _ in range(per_round):
                    start = time.perf_counter()
                    run()
                    kept.append(time.perf_counter() - start)
        bench.mode.value = LIVE
        read_ms, floor_ms, worked_ms = (statistics.median(t) * 1000 for t in times)
        return ReadFigures(read_ms, floor_ms, worked_ms, work_us, exchanges)


def inprocess_read(reads: int) -> float:
    """Median ms of the same read with the card and PSAM in-process: the host's and the emulators' own work."""
    from hardware.inprocess import open_sim_readers
    from host.terminal import Terminal
    terminal = Terminal(*open_sim_readers())
    terminal.read_basic_info()
    times = []
    for _ in range(reads):
        start = time.perf_counter()
        terminal.read_basic_info()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def line(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<50}{value:>16}   {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--apdus", type=int, default=3000, help="APDUs per throughput round")
    parser.add_argument("--reads", type=int, default=30, help="basic-info reads to take the median of")
    parser.add_argument("--slow-apdus", type=int, default=10, help="APDUs per run with the ACK fix off")
    args = parser.parse_args()
    reason = missing_requirements()
    if reason:
        print(f"pcsc_path: skipped: {reason}")
        return 0
    with BenchPcscd(READER) as vpcd:
        bench = Bench(vpcd)
        version = subprocess.run(["pcscd", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        print(f"PC/SC path: pyscard -> private pcscd ({version.strip().rstrip('.')}) -> Debian vpcd"
              " -> hardware.vpcd_link (own process) -> device")

        ping = [bytes.fromhex("00B2012C00")]
        # The card loop: READ RECORD of EF05 items; the SELECTs run in the warm-up round.
        reads = [SELECT_SSSE, bytes.fromhex("00A4000002EF05")] + [
            bytes.fromhex(a) for a in ("00B2012C00", "00B2032C00", "00B2072C0B")]
        loads = [("minimal", ping), ("card", reads)]
        ceiling, *per = bench.rates(loads, args.apdus)
        print(f"  APDU rates: best of 3 rounds of {args.apdus:,} APDUs; read time: median of {args.reads} reads")
        line("minimal responder (ceiling)", f"{1 / ceiling:,.0f} APDU/s", f"{ceiling * 1000:.3f} ms/APDU")
        ok = "meets" if 1 / per[0] >= TARGET_APDU_S else "MISSES"
        line("card emulator (SELECTs + READ RECORD EF05)", f"{1 / per[0]:,.0f} APDU/s",
             f"{per[0] * 1000:.3f} ms/APDU, {ceiling / per[0]:.0%} of ceiling; {ok} target >= {TARGET_APDU_S:,}")

        figures = basic_info_read(bench, args.reads)
        ms, floor_ms, n = figures.read_ms, figures.floor_ms, len(figures.exchanges)
        work_ms = inprocess_read(args.reads)
        ok = "meets" if ms <= TARGET_READ_MS else "MISSES"
        line(f"authenticated basic-info read ({n} APDUs), median", f"{ms:.2f} ms",
             f"{ok} target <= {TARGET_READ_MS:g} ms")
        line(f"  {n} x ceiling", f"{n * ceiling * 1000:.2f} ms", f"read / that = {ms / (n * ceiling * 1000):.2f}x")
        line("  the read's exchanges replayed, no logic (floor)", f"{floor_ms:.2f} ms",
             f"read / floor = {ms / floor_ms:.2f}x; floor / {n} x ceiling = {floor_ms / (n * ceiling * 1000):.2f}x")
        line("  the same read in-process (host + card + PSAM work)", f"{work_ms:.2f} ms",
             f"floor + work = {floor_ms + work_ms:.2f} ms")
        extra_us = (figures.worked_floor_ms - floor_ms) * 1000 / n
        line(f"  the floor, {figures.work_us:.0f} us of decoding before each exchange",
             f"{figures.worked_floor_ms:.2f} ms",
             f"+{extra_us:.0f} us an exchange: {extra_us / figures.work_us:.1f}x that work's time in a loop")

        print(f"  TCP ACK fix of hardware.vpcd_link, minimal responder (off and half: one round of {args.slow_apdus}):")
        for label, kw in (("off: naive peer (Nagle on, 2 writes, no QUICKACK)", {"ack_fix": False}),
                          ("half: 1 write + TCP_NODELAY, no QUICKACK", {"quickack": False})):
            (slow,) = bench.rates([("minimal", ping)], args.slow_apdus, rounds=1, **kw)
            line(label, f"{slow * 1000:.2f} ms/APDU", f"{1 / slow:,.0f} APDU/s")
        line("on: + TCP_QUICKACK re-armed after each recv", f"{ceiling * 1000:.2f} ms/APDU", "(the ceiling above)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
