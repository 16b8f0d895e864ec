"""``sscard pin verify|tries|change|reload|unblock``: the holder's PIN (reload and unblock through the PSAM); on a
reader with a PIN pad the holder types the PIN for verify and change there unless ``--pin`` gives it.

PINs follow the rule the standard interface follows (``protocols.pin``: 6 digits), checked before the reader is
opened; a PIN that breaks it, or no PIN at all (end of input at the prompt, Ctrl-D), exits 2 with a message.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from host.cli.exits import EXIT_OK
from host.cli.options import reader_arg
from host.spec import open_terminal
from protocols.pin import PinFormatError, check_pin


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("pin", help="PIN: verify, tries, change, reload (PSAM), unblock (PSAM)")
    reader_arg(sp)
    sp.add_argument("action", choices=("verify", "tries", "change", "reload", "unblock"))
    sp.add_argument("--pin", help="the (current) PIN; read from stdin or prompted when absent (a reader with a "
                    "PIN pad: typed there)")
    sp.add_argument("--new-pin", help="the new PIN for change/reload")
    sp.set_defaults(func=cmd_pin)


def read_pin(args: argparse.Namespace, attr: str = "pin", prompt: str = "PIN: ") -> str:
    """The PIN ``--pin``/``--new-pin`` gives, else a line of standard input (not a terminal), else asked on the
    terminal; checked against the PIN rule. ``ValueError`` (exit 2) naming where it came from."""
    flag, label = "--" + attr.replace("_", "-"), prompt.rstrip(": ")
    value = getattr(args, attr, None)
    where = flag
    if not value:
        if not sys.stdin.isatty():
            line = sys.stdin.readline()
            if not line:
                raise ValueError(f"no {label} given: standard input ended (give it with {flag}, as a line of "
                                 "standard input, or at the prompt of a terminal)")
            value, where = line.strip(), f"the {label} on standard input"
        else:
            try:
                value = getpass.getpass(prompt)
            except EOFError:
                print(file=sys.stderr)               # end the prompt's line
                raise ValueError(f"no {label} given: end of input at the prompt (Ctrl-D)") from None
            where = f"the {label}"
    try:
        return check_pin(value, where)
    except PinFormatError as exc:
        raise ValueError(str(exc)) from None


def cmd_pin(args: argparse.Namespace) -> int:
    for flag, value in (("--pin", args.pin), ("--new-pin", args.new_pin)):
        if value:
            try:
                check_pin(value, flag)           # before the reader is opened
            except PinFormatError as exc:
                raise ValueError(str(exc)) from None
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
