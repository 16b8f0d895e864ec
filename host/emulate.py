"""``sscard emulate``: serve the emulated card and PSAM to unmodified software (PC/SC through vpcd, serial readers on a pty).

``--vpcd [HOST:]PORT`` connects the card to vpcd's first virtual reader (PORT) and the PSAM to the second
(PORT+1), so pcscd and every PC/SC program see them; ``--serial-pty [PATH]`` serves a two-slot CCID serial
reader on a pty (``--protocol t0|t1``, ``--fidi 96``); PATH, a new symlink to the pty, must not exist
(``hardware.serial_serve.claim_link``). Fault injection: ``--remove-at N``, ``--force-sw INS:SW[@N]``,
``--delay S``, ``--tear-at N`` (firmware_sim.faults). Runs until interrupted.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading


def run_emulator(args: argparse.Namespace) -> int:
    from hardware.sim import Faults, devices_for_emulation
    if not args.vpcd and args.serial_pty is None:
        raise ValueError("say where to serve: --vpcd [HOST:]PORT or --serial-pty [PATH]")
    faults = Faults(args.remove_at, tuple(args.force_sw or ()), args.delay, args.tear_at)
    devices = devices_for_emulation(args.card, args.psam, faults)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.vpcd:
        from hardware.vpcd_link import is_loopback, parse_endpoint, serve_vpcd
        host, port = parse_endpoint(args.vpcd)
        if not (args.allow_remote or is_loopback(host)):
            raise ValueError(f"{host} is not a loopback address: the card would be reachable from the network "
                             "(add --allow-remote if that is intended)")
        print(f"serving the card on vpcd {host}:{port} and the PSAM on {host}:{port + 1}", file=sys.stderr, flush=True)
        try:
            serve_vpcd(devices, host, port, stop, allow_remote=args.allow_remote)
        except KeyboardInterrupt:
            pass
        return 0
    if getattr(args, "pinpad", False):     # hardware/pinpad_serve.py: the GemPC PinPad bench
        from hardware.pinpad_serve import serve_pinpad_cli
        return serve_pinpad_cli(devices, args.serial_pty or None, args.baud or None, stop, protocol=args.protocol,
                                fidi=int(args.fidi, 16) if args.fidi else None, psam_path=args.psam_pty,
                                keys=args.keys, keypad_socket=args.keypad_socket)
    from hardware.serial_serve import serve_pty_cli
    return serve_pty_cli(devices, args.serial_pty or None, args.baud or None, stop,
                         protocol=args.protocol, fidi=int(args.fidi, 16) if args.fidi else None)
