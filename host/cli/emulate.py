"""``sscard emulate``: serve the emulated card and PSAM to unmodified software (PC/SC through vpcd, serial readers on a pty).

``--vpcd [HOST:]PORT`` connects the card to vpcd's first virtual reader (PORT) and the PSAM to the second
(PORT+1), so pcscd and every PC/SC program see them; ``--serial-pty [PATH]`` serves a two-slot CCID serial
reader on a pty (``--protocol t0|t1``, ``--fidi 96``); PATH, a new symlink to the pty, must not exist
(``hardware.serial_serve.claim_link``). ``--pinpad`` serves the card in a GemPC PinPad instead and the PSAM in a
second reader (``--psam-pty``), the pad's keys coming from ``--keys`` or ``--keypad-socket``
(``hardware.pinpad_serve``). Fault injection: ``--remove-at N``, ``--force-sw INS:SW[@N]``, ``--delay S``,
``--tear-at N`` (firmware_sim.device_faults). Runs until interrupted. With ``--vpcd`` and nothing listening on the
port it says so on stderr and keeps trying, a second apart, until vpcd is there or it is interrupted (exit 0).
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any

from firmware_sim.device import Device
from firmware_sim.device_faults import FaultyDevice, ForcedStatus, TearingStore, TearPoint
from hardware.inprocess import sim_devices
from host.cli.exits import EXIT_OK


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("emulate", help="serve the emulated card and PSAM to pcscd (vpcd) or on a serial pty")
    sp.add_argument("--card", help="card image (default: the demo card, in memory)")
    sp.add_argument("--psam", help="PSAM image (default: the demo PSAM of the card's region)")
    sp.add_argument("--vpcd", metavar="[HOST:]PORT", help="connect to vpcd (card at PORT, PSAM at PORT+1)")
    sp.add_argument("--allow-remote", action="store_true", help="allow a vpcd HOST that is not loopback")
    sp.add_argument("--serial-pty", metavar="PATH", nargs="?", const="", help="serve a CCID serial reader on a pty")
    sp.add_argument("--baud", type=int, default=0, help="pace the serial line at this rate")
    sp.add_argument("--protocol", choices=("t0", "t1"), default="t0", help="serial: what the card's ATR offers")
    sp.add_argument("--fidi", metavar="HEX", help="serial: the card's TA1 (e.g. 96) for a faster PPS")
    pinpad = sp.add_argument_group("PIN pad (with --serial-pty)")
    pinpad.add_argument("--pinpad", action="store_true",
                        help="serve the card in a GemPC PinPad; the PSAM goes to a second reader (--psam-pty)")
    pinpad.add_argument("--psam-pty", metavar="PATH", help="the PSAM reader's pty link (default: PATH-psam)")
    pinpad.add_argument("--keys", metavar="SCRIPT",
                        help="keys the holder types, as a file or inline ('123456 OK', 'wait:2', CANCEL …; "
                             "'-': lines typed on this terminal)")
    pinpad.add_argument("--keypad-socket", metavar="PATH",
                        help='a Unix socket taking JSON lines such as {"keys": "123456 OK", "wait": 30}')
    fault = sp.add_argument_group("fault injection (card slot)")
    fault.add_argument("--remove-at", type=int, metavar="N", help="take the card out at the N-th command")
    fault.add_argument("--force-sw", action="append", metavar="INS:SW[@N]", help="answer SW to INS (repeatable)")
    fault.add_argument("--delay", type=float, default=0.0, metavar="S", help="a slow card: S seconds per command")
    fault.add_argument("--tear-at", type=int, metavar="N", help="power lost in the middle of the N-th image write")
    sp.set_defaults(func=cmd_emulate)


def cmd_emulate(args: argparse.Namespace) -> int:
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
            serve_vpcd(devices, host, port, stop, allow_remote=args.allow_remote, on_status=_report_vpcd)
        except KeyboardInterrupt:
            pass
        return EXIT_OK
    if args.pinpad:     # the GemPC PinPad bench
        from hardware.pinpad_serve import serve_pinpad_cli
        return serve_pinpad_cli(devices, args.serial_pty or None, args.baud or None, stop, protocol=args.protocol,
                                fidi=int(args.fidi, 16) if args.fidi else None, psam_path=args.psam_pty,
                                keys=args.keys, keypad_socket=args.keypad_socket)
    from hardware.serial_serve import serve_pty_cli
    return serve_pty_cli(devices, args.serial_pty or None, args.baud or None, stop,
                         protocol=args.protocol, fidi=int(args.fidi, 16) if args.fidi else None)


def _report_vpcd(link: Any, error: OSError | None) -> None:
    """Say on stderr when nothing listens at a vpcd port (the link keeps retrying) and when it connects."""
    where = f"{link.host}:{link.port}"
    if error is None:
        print(f"sscard: vpcd {where}: connected", file=sys.stderr, flush=True)
        return
    reason = error.strerror or str(error)
    print(f"sscard: nothing is listening on {where} ({reason}): vpcd's readers wait there while pcscd runs with "
          "vsmartcard-vpcd installed (start it: sudo service pcscd start); retrying every second until "
          "interrupted (Ctrl-C)", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Faults:
    """Faults to inject into the emulated card (firmware_sim.device_faults): remove it at the N-th command,
    force status words (``INS:SW`` or ``INS:SW@N``), answer slowly, or lose power in the N-th image write."""

    remove_at: int | None = None
    force_sw: tuple[str, ...] = ()
    delay: float = 0.0
    tear_at: int | None = None

    def forced(self) -> list[ForcedStatus]:
        out = []
        for text in self.force_sw:
            try:
                rule, _, at = text.partition("@")
                ins, sep, sw = rule.partition(":")
                if not sep or len(ins) != 2 or len(sw) != 4:
                    raise ValueError
                out.append(ForcedStatus(int(sw, 16), ins=int(ins, 16), at=int(at) if at else None, times=0))
            except ValueError:
                raise ValueError(f"--force-sw {text!r}: expected INS:SW or INS:SW@N, e.g. B2:6581 or 20:63C1@3") \
                    from None
        return out

    @property
    def any(self) -> bool:
        return bool(self.remove_at or self.force_sw or self.delay or self.tear_at)


def devices_for_emulation(card: str | None, psam: str | None, faults: Faults | None = None) -> list[Device]:
    """The devices ``sscard emulate`` serves: the card (wrapped for fault injection when asked) and the PSAM."""
    c, p = sim_devices(card or "", psam)
    device: Device = c
    if faults is not None and faults.any:
        if faults.tear_at:
            if c.store.path is None:
                raise ValueError("--tear-at needs a card image file (--card CARD.json)")
            c.store = TearingStore(c.store.path, tear_on=faults.tear_at, point=TearPoint.PARTIAL_WRITE)
        # A slow card also asks for twice the block waiting time (S(WTX) on T=1) before each answer.
        device = FaultyDevice(c, remove_at=faults.remove_at, forced=faults.forced(), delay=faults.delay,
                              slow_wtx=2 if faults.delay else 0)
    return [device] + ([p] if p is not None else [])
