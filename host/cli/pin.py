"""``sscard pin verify|tries|change|reload|unblock``: the holder's PIN (reload and unblock through the PSAM); on a
reader with a PIN pad the holder types the PIN for verify and change there unless ``--pin`` gives it.

PINs follow the rule the standard interface follows (``protocols.pin``: 6 digits), checked before the reader is
opened; a PIN that breaks it, or no PIN at all (end of input at the prompt, Ctrl-D), exits 2 with a message.
"""
from __future__ import annotations

import argparse
from typing import Any

from host.cli.exits import EXIT_OK
from host.cli.options import check_pin_flags, reader_arg
from host.cli.options import read_pin
from host.spec import open_terminal


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("pin", help="PIN: verify, tries, change, reload (PSAM), unblock (PSAM)")
    reader_arg(sp)
    sp.add_argument("action", choices=("verify", "tries", "change", "reload", "unblock"))
    sp.add_argument("--pin", help="the (current) PIN; read from stdin or prompted when absent (a reader with a "
                    "PIN pad: typed there)")
    sp.add_argument("--new-pin", help="the new PIN for change/reload")
    sp.set_defaults(func=cmd_pin)


def cmd_pin(args: argparse.Namespace) -> int:
    check_pin_flags(args, "pin", "new_pin")             # before the reader is opened
    term = open_terminal(args.reader)
    try:
        pad = term.pin_pad() is not None and not args.pin   # the holder types on the reader's PIN pad (host/pinpad.py)
        if args.action == "verify":
            term.verify_pin(None if pad else read_pin(args))
            print("PIN verified")
        elif args.action == "tries":
            print(term.pin_tries_left())
        elif args.action == "change":
            old = None if pad else read_pin(args, "pin", "current PIN: ")
            new = None if pad else read_pin(args, "new_pin", "new PIN: ")
            term.change_pin(old, new)
            print("PIN changed")
        elif args.action == "reload":
            term.reload_pin(read_pin(args, "new_pin", "new PIN: "))
            print("PIN reloaded")
        else:
            term.unblock_pin()
            print("PIN unblocked")
    finally:
        term.close()
    return EXIT_OK
