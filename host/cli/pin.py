"""``sscard pin verify|tries|change|reload|unblock``: the holder's PIN (reload and unblock through the PSAM); on a
reader with a PIN pad the holder types the PIN for verify and change there unless ``--pin`` gives it."""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from host.cli.exits import EXIT_OK
from host.cli.options import reader_arg
from host.spec import open_terminal


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("pin", help="PIN: verify, tries, change, reload (PSAM), unblock (PSAM)")
    reader_arg(sp)
    sp.add_argument("action", choices=("verify", "tries", "change", "reload", "unblock"))
    sp.add_argument("--pin", help="the (current) PIN; read from stdin or prompted when absent (a reader with a "
                    "PIN pad: typed there)")
    sp.add_argument("--new-pin", help="the new PIN for change/reload")
    sp.set_defaults(func=cmd_pin)


def _pin(args: argparse.Namespace, attr: str = "pin", prompt: str = "PIN: ") -> str:
    value = getattr(args, attr, None)
    if value:
        return value
    if not sys.stdin.isatty():
        line = sys.stdin.readline().strip()
        if line:
            return line
    return getpass.getpass(prompt)


def cmd_pin(args: argparse.Namespace) -> int:
    term = open_terminal(args.reader)
    try:
        pad = term.pin_pad() is not None and not args.pin   # the holder types on the reader's PIN pad (host/pinpad.py)
        if args.action == "verify":
            term.verify_pin(None if pad else _pin(args))
            print("PIN verified")
        elif args.action == "tries":
            print(term.pin_tries_left())
        elif args.action == "change":
            old = None if pad else _pin(args, "pin", "current PIN: ")
            new = None if pad else _pin(args, "new_pin", "new PIN: ")
            term.change_pin(old, new)
            print("PIN changed")
        elif args.action == "reload":
            term.reload_pin(_pin(args, "new_pin", "new PIN: "))
            print("PIN reloaded")
        else:
            term.unblock_pin()
            print("PIN unblocked")
    finally:
        term.close()
    return EXIT_OK
