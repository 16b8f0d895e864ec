"""``sscard readers``: the readers this machine offers, as reader specs (docs/design.md §2).

Every PC/SC reader pcscd knows, with its card present or absent and the card's ATR (one status query, like a
one-shot ``pcsc_scan``: no card is connected or reset), the serial ports a ``ccid-serial:`` reader may sit on,
the emulator's demo cards, and the reader ``sscard`` uses when none is given (``host.config``). ``--json`` prints
one JSON object per line instead.

Exit 0; 3 when pcscd cannot be asked (no pcscd on the socket: the message says how to start one, ``sscard pcscd``
or the system service) — the other readers are still listed.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from typing import Any

from firmware_sim.demo import DEFAULT_CARD, DEMO_PEOPLE
from host import config, errors as E
from host.cli.columns import pad
from host.cli.exits import EXIT_OK, EXIT_READER

#: Where serial ports show up on Linux: USB adapters by their stable names first, then the kernel's names.
SERIAL_GLOBS = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*")


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("readers", help="list readers: PC/SC slots with card and ATR, serial ports, the emulator",
                        description="List every reader as a --reader spec: PC/SC slots (card present or not, "
                                    "ATR), serial ports, the emulator's demo cards, and the default reader.")
    sp.add_argument("--json", action="store_true", help="one JSON object per reader")
    sp.set_defaults(func=cmd_readers)


def cmd_readers(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    code = EXIT_OK
    from hardware import pcsc
    try:
        states = pcsc.reader_states()
    except pcsc.NoService as exc:
        print(f"sscard: {exc}\n{_how_to_start_pcscd()}", file=sys.stderr)
        code = EXIT_READER
    except E.ReaderError as exc:
        print(f"sscard: PC/SC: {exc}", file=sys.stderr)
        code = EXIT_READER
    else:
        for i, state in enumerate(states):
            rows.append({"spec": f"pcsc:{i}", "kind": "pcsc", "name": state.name, "card": state.present,
                         "atr": state.atr.hex().upper(), "flags": list(state.flags)})
    for path in serial_ports():
        real = os.path.realpath(path)
        rows.append({"spec": f"ccid-serial:{path}", "kind": "ccid-serial",
                     "name": f"serial port{'' if real == path else ' → ' + real} (add ,model=GemPCTwin … "
                             "for a one-slot reader)"})
    for name, (region, profile, _serial, person) in DEMO_PEOPLE.items():
        spec = "sim" if name == DEFAULT_CARD else f"sim:{name}"
        rows.append({"spec": spec, "kind": "sim",
                     "name": f"demo card {person['name']} ({region}, {profile}) and its PSAM"})
    spec, source = config.reader_spec()
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        print(json.dumps({"spec": spec, "kind": "default", "name": f"the default reader (from {source})"},
                         ensure_ascii=False))
        return code
    pcsc_rows = [r for r in rows if r["kind"] == "pcsc"]
    if code == EXIT_OK:
        print(f"PC/SC readers (pcscd at {pcsc.socket_path()}):" if pcsc_rows
              else f"PC/SC: pcscd at {pcsc.socket_path()} has no readers")
    width = max((len(r["spec"]) for r in pcsc_rows), default=0) + 2
    name_width = max((len(r["name"]) for r in pcsc_rows), default=0) + 2
    for row in pcsc_rows:
        card = "card present" if row["card"] else "no card"
        status = ", ".join([card, *row["flags"]])
        atr = f"  ATR {_spaced(row['atr'])}" if row["atr"] else ""
        print(f"  {pad(row['spec'], width)}{pad(row['name'], name_width)}{status}{atr}")
    serial = [r for r in rows if r["kind"] == "ccid-serial"]
    print("Serial ports:" if serial else "Serial ports: none found (" + ", ".join(SERIAL_GLOBS) + ")")
    width = max(len(r["spec"]) for r in rows if r["kind"] != "pcsc") + 2
    for row in serial:
        print(f"  {pad(row['spec'], width)}{row['name']}")
    print("Emulator (also sim:CARD.json[,psam=PSAM.json]):")
    for row in rows:
        if row["kind"] == "sim":
            print(f"  {pad(row['spec'], width)}{row['name']}")
    print(f"Default reader: {spec} (from {source})")
    return code


def serial_ports() -> list[str]:
    """Serial ports present, each once: a stable /dev/serial/by-id name is listed instead of its tty."""
    seen: set[str] = set()
    out = []
    for pattern in SERIAL_GLOBS:
        for path in sorted(glob.glob(pattern)):
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                out.append(path)
    return out


def _spaced(hex_text: str) -> str:
    return " ".join(hex_text[i:i + 2] for i in range(0, len(hex_text), 2))


def _how_to_start_pcscd() -> str:
    named = os.environ.get("PCSCLITE_CSOCK_NAME")
    lines = ["Start a pcscd:",
             "  sscard pcscd --emulate            a private one with the emulator's card in it (it prints the",
             "                                    export PCSCLITE_CSOCK_NAME=… line for this shell)",
             "  sudo systemctl start pcscd.socket the system's (Debian package pcscd)"]
    if named:
        lines.insert(0, f"PCSCLITE_CSOCK_NAME={named}: is the sscard pcscd that printed it still running? "
                        "(unset it to use the system's pcscd)")
    return "\n".join(lines)
