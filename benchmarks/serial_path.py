"""The serial path's cost: a full authenticated basic-info read (demo card + PSAM) through our ``ccid-serial:`` driver
and the simulated GemCore SIM Pro on a pty, with the simulator pacing the line at 9600 and 115200 baud.

For each run it prints the measured time next to the lower bound from the bytes actually exchanged: serial bytes ×
11 bits (8N2) / baud, plus the card-line characters × their duration at the Fi/Di the host negotiated with PPS
(the simulator paces that too). The ratio median / bound is the overhead over the simulator's pacing model: what
the driver, the host library and the pty add on top of the line time the simulator enforces. Target: ratio ≤ 1.3.
The simulator runs in a child process so that its pacing sleeps do not compete with the host for the interpreter
lock.

Figures per row: "median ms" is the median and "best ms" the fastest of the row's reads (3 at 9600 baud, 10 at
115200), each read starting from power-off (ATR, PPS, then the read); "bound ms" is the median of the reads' bounds.

Run: .venv/bin/python benchmarks/serial_path.py
"""
from __future__ import annotations

import multiprocessing as mp
import statistics
import time
from multiprocessing.connection import Connection

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_card, demo_psam
from firmware_sim.iso7816_card import LinkProfile
from firmware_sim.psam import PsamOS
from hardware.ccid_serial import CcidSerialReader
from hardware.serial_serve import FirmwareServer, make_firmware
from host.terminal import Terminal
from protocols import atr as atr_mod

BITS_PER_CHAR = 11   # 8N2, as libccid sets the GemCore line
CLOCK = 4_000_000.0  # the simulated reader's card clock


def _serve(conn: Connection, baud: int, profile_name: str) -> None:
    profile = PROFILES[profile_name]
    fw = make_firmware(CardOS(demo_card()), PsamOS(demo_psam("440100")), card_profile=profile, psam_profile=profile)
    server = FirmwareServer(fw, baud=baud, bits_per_char=BITS_PER_CHAR)
    conn.send(server.serve_pty())
    while True:
        cmd = conn.recv()
        if cmd == "stats":
            s = server.stats
            conn.send((s.bytes_in, s.bytes_out, s.card_seconds))
            s.bytes_in = s.bytes_out = 0
            s.card_seconds = 0.0
        else:
            server.close()
            conn.send("bye")
            return


PROFILES = {
    "TA1=96, T=0": LinkProfile.t0_only(0x96),
    "TA1=96, T=1": LinkProfile.t1(0x96),
    "no TA1 (device ATR), T=0": LinkProfile(),
}


def run(baud: int, profile_name: str, reads: int) -> None:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child, baud, profile_name), daemon=True)
    proc.start()
    path = parent.recv()
    reader = CcidSerialReader(path, baud=baud)
    term = Terminal(reader.card, reader.psam)
    term.read_basic_info()                     # warm up: imports, first PPS
    protocol, fidi = reader.card.protocol, reader.card.fidi
    term.close()
    parent.send("stats")
    parent.recv()
    measured, bounds, last = [], [], (0, 0, 0.0)
    for _ in range(reads):
        t0 = time.perf_counter()
        info = term.read_basic_info()
        term.close()                            # power off both slots: every read starts with ATR and PPS
        dt = time.perf_counter() - t0
        parent.send("stats")
        b_in, b_out, card_s = parent.recv()
        serial_s = (b_in + b_out) * BITS_PER_CHAR / baud
        measured.append(dt)
        bounds.append(serial_s + card_s)
        last = (b_in + b_out, b_in, card_s)
    assert info.authenticated
    card_rate = atr_mod.bit_rate(fidi, CLOCK)
    med = statistics.median(measured)
    bound = statistics.median(bounds)
    print(f"{baud:>7} {profile_name:<25} T={protocol:<3} {fidi:02X}    {card_rate / 1000:>6.1f}k"
          f" {last[0]:>6} {last[2] * 1000:>8.1f} {bound * 1000:>9.1f} {med * 1000:>9.1f} {min(measured) * 1000:>8.1f}"
          f" {med / bound:>6.2f}")
    reader.close()
    parent.send("stop")
    parent.recv()
    proc.join(5)


def main() -> None:
    print("authenticated basic-info read (card + PSAM: SELECTs, READ RECORDs, internal authentication via the PSAM)")
    print("over a pty, simulator pacing the serial line (8N2) and the card line (4 MHz clock, negotiated Fi/Di)\n")
    print(f"{'baud':>7} {'card ATR':<25} {'proto':<5} {'Fi/Di':<5} {'card bps':>8} {'ser. B':>6} {'card ms':>8}"
          f" {'bound ms':>9} {'median ms':>9} {'best ms':>8} {'ratio':>6}")
    for baud, reads in ((9600, 3), (115200, 10)):
        for name in PROFILES:
            run(baud, name, reads)
    print("\nbound = serial bytes × 11 / baud + card-line characters × (12 etu T=0 | 11 etu T=1 with TC1=FF, else 12)"
          " × etu (median over the reads)")
    print("ratio = median / bound: the overhead over the simulator's pacing model (target ≤ 1.3)")


if __name__ == "__main__":
    main()
