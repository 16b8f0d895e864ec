"""``sscard apdu HEX…``: send APDUs in one card session; one response line each (data ‖ SW), nothing else."""
from __future__ import annotations

import argparse
from typing import Any

from host import errors as E
from host.cli.exits import EXIT_OK
from host.cli.options import reader_arg
from host.spec import open_readers


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("apdu", help="send APDUs in one card session; prints one response (hex, SW last) a line")
    reader_arg(sp)
    sp.add_argument("--psam", action="store_true", help="send to the PSAM slot instead of the card")
    sp.add_argument("--raw", action="store_true", help="no GET RESPONSE / 6Cxx handling")
    sp.add_argument("apdus", nargs="+", metavar="HEX")
    sp.set_defaults(func=cmd_apdu)


def cmd_apdu(args: argparse.Namespace) -> int:
    from host.engine import ApduEngine
    from protocols.apdu import from_hex, CommandAPDU
    commands = []
    for n, text in enumerate(args.apdus, 1):
        try:
            commands.append(from_hex(text))
            CommandAPDU.parse(commands[-1])
        except E.MalformedApdu as exc:    # the messages give positions and lengths, never the APDU's bytes
            raise E.MalformedApdu(f"APDU {n}: {exc}") from None
    card_reader, psam_reader = open_readers(args.reader)
    reader = psam_reader if args.psam else card_reader
    if reader is None:
        raise E.NoPsam("this reader has no PSAM slot")
    engine = ApduEngine(reader)
    try:
        with reader.transaction():
            engine.connect()
            for raw in commands:
                rsp = engine.transmit(raw) if not args.raw else None
                if rsp is None:
                    print(reader.transmit(raw).hex().upper())
                else:
                    print(rsp.hex())
    finally:
        reader.disconnect()
    return EXIT_OK
