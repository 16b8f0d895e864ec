"""``sscard block [--permanent|--card]`` and ``sscard unblock``: application and card blocking (MAC from the PSAM)."""
from __future__ import annotations

import argparse
from typing import Any

from host.cli.exits import EXIT_OK
from host.cli.options import reader_arg
from host.spec import open_terminal


def add_parser(sub: Any) -> None:
    for name in ("block", "unblock"):
        sp = sub.add_parser(name, help=f"{name} the application (MAC from the PSAM)")
        reader_arg(sp)
        sp.add_argument("--df", default="SSSE")
        if name == "block":
            sp.add_argument("--permanent", action="store_true")
            sp.add_argument("--card", action="store_true", help="CARD BLOCK: the whole card, for ever")
        sp.set_defaults(func=cmd_block)


def cmd_block(args: argparse.Namespace) -> int:
    term = open_terminal(args.reader)
    try:
        if args.command == "unblock":
            term.unblock_application(args.df)
            print(f"{args.df} unblocked")
        elif args.card:
            term.block_card()
            print("card blocked")
        else:
            term.block_application(args.permanent, args.df)
            print(f"{args.df} blocked" + (" permanently" if args.permanent else ""))
    finally:
        term.close()
    return EXIT_OK
