"""``sscard pcscd``: a private pcscd for a bench or a demo, in the foreground until Ctrl-C.

It runs ``hardware.pcscd.PrivatePcscd`` (its own socket and reader.conf, the system's pcscd left alone) with
``--vpcd N`` vpcd readers (two slots each: card and PSAM, on consecutive TCP ports from ``--port``, else free ones)
and any ``--serial DEV[:MODEL]`` serial CCID readers (Debian's ``libccidtwin.so``; a real reader or the pty of
``sscard emulate --serial-pty``). ``--emulate`` puts the emulator's card and PSAM (``--card``/``--psam`` images,
else the demo card) in the first vpcd reader. Once every reader is up it prints the line other shells need,
``export PCSCLITE_CSOCK_NAME=…``, and the readers as ``pcsc:N`` specs; SIGINT or SIGTERM stops the emulator and
the daemon and deletes the daemon's folder (``--debug`` keeps it, with pcscd's debug log).

Exit 0 when stopped; 2 for bad options (a taken port, no such serial device); 3 when pcscd cannot run here or a
reader does not come up (the message carries the end of pcscd's log).
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hardware.pcscd import (CCID_TWIN_MODELS, VPCD_SLOTS, PrivatePcscd, free_port_block, missing_requirements,
                            serial_entry, slot_names, vpcd_entry)
from host import errors as E
from host.cli.exits import EXIT_OK, EXIT_READER

if TYPE_CHECKING:  # pyscard is imported when the daemon runs, not whenever the CLI starts
    from hardware.pcsc import ReaderState

READY_TIMEOUT = 15.0     # pcscd polls vpcd and serial readers; this is only a ceiling
MAX_VPCD = 16


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("pcscd", help="run a private pcscd with vpcd and serial readers (for a bench or a demo)",
                        description="Run a private pcscd (its own socket; the system's pcscd is left alone) with "
                                    "vpcd readers and serial CCID readers, until Ctrl-C. Other shells use it after "
                                    "the export line it prints.")
    sp.add_argument("--vpcd", type=int, metavar="N",
                    help="vpcd readers, two slots each (card, PSAM) (default 1; 0 with --serial)")
    sp.add_argument("--port", type=int, metavar="PORT",
                    help="first vpcd TCP port; reader i uses PORT+2i and PORT+2i+1 (default: free ports)")
    sp.add_argument("--serial", action="append", default=[], metavar="DEV[:MODEL]",
                    help="a serial CCID reader on DEV through libccidtwin.so; MODEL one of "
                         f"{', '.join(CCID_TWIN_MODELS)} (default GemPCTwin); repeatable")
    sp.add_argument("--emulate", action="store_true",
                    help="put the emulator's card and PSAM in the first vpcd reader")
    sp.add_argument("--card", help="with --emulate: card image (default: the demo card, in memory)")
    sp.add_argument("--psam", help="with --emulate: PSAM image (default: the demo PSAM of the card's region)")
    sp.add_argument("--debug", action="store_true", help="pcscd's debug log, kept with its folder after the stop")
    sp.set_defaults(func=cmd_pcscd)


def cmd_pcscd(args: argparse.Namespace) -> int:
    vpcd_count = args.vpcd if args.vpcd is not None else (1 if args.emulate or not args.serial else 0)
    if not 0 <= vpcd_count <= MAX_VPCD:
        raise ValueError(f"--vpcd {vpcd_count}: from 0 to {MAX_VPCD} readers")
    if args.emulate and vpcd_count == 0:
        raise ValueError("--emulate needs a vpcd reader (--vpcd 1 or more)")
    if (args.card or args.psam) and not args.emulate:
        raise ValueError("--card and --psam go with --emulate")
    if vpcd_count == 0 and not args.serial:
        raise ValueError("no reader to run: --vpcd N and/or --serial DEV")
    if vpcd_count == 0 and args.port is not None:
        raise ValueError("--port is the first vpcd port: it needs a vpcd reader (--vpcd 1 or more)")
    serials = [_serial(text) for text in args.serial]
    devices = []
    if args.emulate:    # the images are checked before any daemon starts
        from host.cli.emulate import devices_for_emulation
        devices = devices_for_emulation(args.card, args.psam)
    reason = missing_requirements()
    if reason:
        raise E.ReaderError(f"cannot run pcscd here: {reason}")
    base = _ports(args.port, vpcd_count) if vpcd_count else 0
    vpcd_names = ["sscard vpcd"] if vpcd_count == 1 else [f"sscard vpcd {i + 1}" for i in range(vpcd_count)]
    serial_names = ["sscard serial"] if len(serials) == 1 else [f"sscard serial {i + 1}" for i in range(len(serials))]
    entries = [vpcd_entry(base + VPCD_SLOTS * i, name) for i, name in enumerate(vpcd_names)]
    entries += [serial_entry(dev, model, name) for (dev, model), name in zip(serials, serial_names, strict=True)]

    # SIGINT and SIGTERM end it, the finally below stopping the emulator and the daemon; SIGINT is set here too
    # because a shell starts a background job (`sscard pcscd &`) with SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    daemon = PrivatePcscd(debug=args.debug)
    os.environ.update(daemon.env)    # this process's own PC/SC calls (waiting for the readers) go to it
    links = []
    try:
        try:
            daemon.start(entries)
        except RuntimeError as exc:
            raise E.ReaderError(str(exc)) from None
        if devices:
            from hardware.vpcd_link import VpcdLink
            links = [VpcdLink(d, port=base + i).start() for i, d in enumerate(devices)]
        readers = _wait_for_readers(daemon, vpcd_names + serial_names, args.emulate)
        _report(daemon, readers, vpcd_names, serial_names, serials, base, args.emulate)
        try:
            while daemon.running:
                time.sleep(0.5)
            print(f"sscard pcscd: pcscd ended by itself; its log:\n{daemon.log_tail()}", file=sys.stderr)
            return EXIT_READER
        except KeyboardInterrupt:
            return EXIT_OK
    finally:
        for link in links:
            link.stop()
        if args.debug:
            daemon.stop()
            print(f"sscard pcscd: stopped; pcscd's log is {daemon.log_path}", file=sys.stderr, flush=True)
        else:
            daemon.cleanup()
            print("sscard pcscd: stopped", file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def _serial(text: str) -> tuple[str, str]:
    """``DEV[:MODEL]`` → (device, model); the device must exist (a tty, or a pty link)."""
    dev, sep, model = text.rpartition(":")
    if not sep or model not in CCID_TWIN_MODELS:
        dev, model = text, "GemPCTwin"
    if not Path(dev).exists():
        raise ValueError(f"--serial {text}: no device at {dev}")
    return dev, model


def _ports(first: int | None, readers: int) -> int:
    """The first of ``2 × readers`` consecutive free TCP ports: ``first`` if given (checked), else free ones."""
    count = VPCD_SLOTS * readers
    if first is None:
        return free_port_block(count)
    if not 0 < first <= 0x10000 - count:
        raise ValueError(f"--port {first}: the ports {first}…{first + count - 1} are not all TCP ports")
    for port in range(first, first + count):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))     # vpcd listens on every address
            except OSError:
                raise ValueError(f"--port {first}: port {port} is in use (a system pcscd's vpcd takes 35963 and "
                                 "35964; leave --port out to take free ports)") from None
    return first


def _wait_for_readers(daemon: PrivatePcscd, names: list[str], emulated: bool) -> list[str]:
    """pcscd's reader list once every entry has its slots (and, with the emulator, its card is seen)."""
    from hardware.pcsc import reader_states
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if not daemon.running:
            raise E.ReaderError(f"pcscd ended while starting; its log:\n{daemon.log_tail()}")
        states = reader_states()
        readers = [s.name for s in states]
        missing = [n for n in names if not slot_names(readers, n)]
        card_seen = not emulated or _card_in_first(states, readers, names[0])
        if not missing and card_seen:
            return readers
        if time.monotonic() > deadline:
            what = (f"the readers {', '.join(missing)} did not come up" if missing
                    else "the emulated card did not show in the first vpcd reader")
            raise E.ReaderError(f"{what} within {READY_TIMEOUT:g} s; pcscd's log:\n{daemon.log_tail()}")
        time.sleep(0.1)


def _card_in_first(states: list[ReaderState], readers: list[str], name: str) -> bool:
    """A card is in slot 0 of the entry ``name``."""
    slots = slot_names(readers, name)
    return bool(slots) and any(s.present for s in states if s.name == slots[0])


def _report(daemon: PrivatePcscd, readers: list[str], vpcd_names: list[str], serial_names: list[str],
            serials: list[tuple[str, str]], base: int, emulated: bool) -> None:
    """What other shells need: the export line, then each reader as a ``pcsc:N`` spec with what it is."""
    what: dict[str, str] = {}
    for i, name in enumerate(vpcd_names):
        for slot, reader in enumerate(slot_names(readers, name)):
            port = base + VPCD_SLOTS * i + slot
            if emulated and i == 0:
                what[reader] = f"vpcd port {port}: the emulator's {'card' if slot == 0 else 'PSAM'}"
            elif slot == 0:
                what[reader] = f"vpcd port {port}: empty (sscard emulate --vpcd {port} serves a card and PSAM here)"
            else:
                what[reader] = f"vpcd port {port}: empty"
    for name, (dev, model) in zip(serial_names, serials, strict=True):
        for reader in slot_names(readers, name):
            what[reader] = f"{dev} ({model})"
    print(f"sscard pcscd: a private pcscd (pid {daemon.pid}) on {daemon.socket_path}")
    print("In another shell:")
    print(f"export PCSCLITE_CSOCK_NAME={shlex.quote(daemon.socket_path)}")
    print("Readers:")
    width = max(len(r) for r in readers) + 2
    for i, reader in enumerate(readers):
        print(f"  pcsc:{i:<3} {reader.ljust(width)}{what.get(reader, '')}")
    print("Stop with Ctrl-C.", flush=True)
