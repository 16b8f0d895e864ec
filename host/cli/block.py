"""``sscard block [--permanent|--card]`` and ``sscard unblock``: application and card blocking (MAC from the PSAM).

A permanent application block and a card block cannot be undone. They ask for confirmation on a terminal (the
operator types ``yes``) or need ``--yes``; with neither a terminal nor ``--yes`` they are refused (exit 2) and
nothing is sent to the card.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from host.cli.exits import EXIT_OK, EXIT_USAGE
from host.cli.options import reader_arg
from host.spec import open_terminal


def add_parser(sub: Any) -> None:
    for name in ("block", "unblock"):
        sp = sub.add_parser(name, help=f"{name} the application (MAC from the PSAM)")
        reader_arg(sp)
        sp.add_argument("--df", default="SSSE")
        if name == "unblock":
            sp.add_argument("--region", help="the card's issuing region (6 digits) when its blocked application "
                                             "cannot tell it (default: the region of the PSAM)")
        if name == "block":
            sp.add_argument("--permanent", action="store_true",
                            help="block the application for ever (asks for confirmation, or --yes)")
            sp.add_argument("--card", action="store_true",
                            help="CARD BLOCK: the whole card, for ever (asks for confirmation, or --yes)")
            sp.add_argument("--yes", "-y", action="store_true",
                            help="do an irreversible block without asking (scripts)")
        sp.set_defaults(func=cmd_block)


def confirm(what: str, yes: bool) -> bool:
    """True if the operator agreed to ``what``: ``--yes``, or ``yes`` typed at the terminal's prompt.
    ``ValueError`` (exit 2) when there is no terminal to ask and no ``--yes``."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ValueError(f"{what} cannot be undone: confirm it with --yes (no terminal to ask)")
    print(f"{what} cannot be undone. Type yes to go on: ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print(file=sys.stderr)
    return answer.strip().lower() == "yes"


def cmd_block(args: argparse.Namespace) -> int:
    if args.command == "block" and (args.card or args.permanent):
        what = "blocking the whole card (CARD BLOCK)" if args.card else f"blocking {args.df} permanently"
        if not confirm(what[0].upper() + what[1:], args.yes):
            print("sscard: not confirmed: nothing was sent to the card", file=sys.stderr)
            return EXIT_USAGE
    term = open_terminal(args.reader)
    try:
        if args.command == "unblock":
            term.unblock_application(args.df, region=args.region)
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
