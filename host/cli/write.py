"""``sscard write FILE TAG VALUE``: update one record item through the PSAM (external authentication or MAC)."""
from __future__ import annotations

import argparse
from typing import Any

from host.cli.exits import EXIT_OK
from host.cli.options import reader_arg
from host.spec import open_terminal


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("write", help="update one record item through the PSAM, e.g. write SSSE/EF06 name 王五")
    reader_arg(sp)
    sp.add_argument("file", help="SSSEEF06, DF01EF06, …")
    sp.add_argument("tag", help="item tag (hex, e.g. 09) or name (e.g. name)")
    sp.add_argument("value")
    sp.set_defaults(func=cmd_write)


def cmd_write(args: argparse.Namespace) -> int:
    from host.standard.formats import check_no_separators
    check_no_separators(args.value, f"{args.file} {args.tag}")   # read back, it would add interface fields
    term = open_terminal(args.reader)
    try:
        item: str | int = args.tag
        if len(args.tag) == 2:
            try:
                item = int(args.tag, 16)
            except ValueError:
                pass
        term.write_item(args.file, item, args.value)
    finally:
        term.close()
    print(f"{args.file} {args.tag} written")
    return EXIT_OK
