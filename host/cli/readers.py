"""``sscard readers``: the readers this machine offers (the emulator, and every PC/SC reader)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from host import errors as E
from host.cli.exits import EXIT_OK


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("readers", help="list readers")
    sp.set_defaults(func=cmd_readers)


def cmd_readers(args: argparse.Namespace) -> int:
    print("sim\tin-process emulator: demo card and PSAM (sim:CARD.json[,psam=PSAM.json])")
    try:
        from hardware import pcsc
        for i, name in enumerate(pcsc.list_readers()):
            print(f"pcsc:{i}\t{name}")
    except E.ReaderError as exc:
        print(f"pcsc\tnot available: {exc}", file=sys.stderr)
    return EXIT_OK
