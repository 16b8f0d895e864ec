"""``sscard purse balance|debit AMOUNT|log``: the medical purse of DF04 (docs/design.md §3.3).

Amounts are yuan with at most two decimals (``1.00``), shown as ``12.34``. The PIN is handled as ``sscard pin``
handles it (``--pin``, a line of standard input, or the prompt; typed on the reader's PIN pad when it has one),
checked before the reader is opened. A debit needs the PSAM (MAC1 and the MAC2 check).
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from host.cli.columns import label_table
from host.cli.exits import EXIT_OK
from host.cli.options import reader_arg
from host.cli.options import read_pin
from host.spec import open_terminal
from host.terminal import DebitResult
from protocols import purse as P
from protocols.pin import PinFormatError, check_pin


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("purse", help="the medical purse (DF04): balance, debit AMOUNT (yuan), log")
    reader_arg(sp)
    sp.add_argument("action", choices=("balance", "debit", "log"))
    sp.add_argument("amount", nargs="?", help="debit: the amount in yuan, e.g. 1.00")
    sp.add_argument("--pin", help="the PIN; read from stdin or prompted when absent (a reader with a PIN pad: "
                    "typed there)")
    sp.add_argument("--json", action="store_true", help="JSON instead of text")
    sp.set_defaults(func=cmd_purse)


def _when(stamp: str) -> str:
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[8:10]}:{stamp[10:12]}:{stamp[12:14]}"


def format_debit(r: DebitResult) -> str:
    return label_table([
        ("扣款金额 Amount", P.format_yuan(r.amount)),
        ("扣款前余额 Balance before", P.format_yuan(r.balance_before)),
        ("余额 Balance", P.format_yuan(r.balance)),
        ("脱机交易序号 Card transaction number", f"{r.offline_counter:04X}"),
        ("终端交易序号 Terminal transaction number", f"{r.terminal_txn:08X}"),
        ("终端机编号 Terminal number", r.terminal_number),
        ("交易时间 Time", _when(r.when)),
        ("TAC", r.tac),
    ])


def cmd_purse(args: argparse.Namespace) -> int:
    amount = 0
    if args.action == "debit":
        if args.amount is None:
            raise ValueError("purse debit needs an AMOUNT in yuan, e.g. 1.00")
        try:
            amount = P.parse_yuan(args.amount)
        except ValueError as exc:
            raise ValueError(f"AMOUNT: {exc}") from None
        if amount == 0:
            raise ValueError("AMOUNT: a debit of at least 0.01 yuan")
    elif args.amount is not None:
        raise ValueError(f"purse {args.action} takes no AMOUNT")
    if args.pin:
        try:
            check_pin(args.pin, "--pin")             # before the reader is opened
        except PinFormatError as exc:
            raise ValueError(str(exc)) from None
    term = open_terminal(args.reader)
    try:
        pin = None if (term.pin_pad() is not None and not args.pin) else read_pin(args)
        if args.action == "balance":
            fen = term.purse_balance(pin)
            print(json.dumps({"balance": P.format_yuan(fen), "fen": fen}) if args.json else P.format_yuan(fen))
        elif args.action == "debit":
            result = term.debit(amount, pin)
            print(json.dumps(result.as_dict()) if args.json else format_debit(result))
        else:
            log = term.purse_log(pin)
            if args.json:
                print(json.dumps([{"offline_counter": r.offline_counter, "amount": P.format_yuan(r.amount),
                                   "type": f"{r.txn_type:02X}", "terminal": r.terminal_number,
                                   "time": r.timestamp} for r in log]))
            elif not log:
                print("无交易记录 no transactions")
            else:
                print("序号 No.  时间 Time             金额 Amount  终端 Terminal")
                for r in log:
                    print(f"{r.offline_counter:04X}      {_when(r.timestamp)}  {P.format_yuan(r.amount):>11}  "
                          f"{r.terminal_number}")
    finally:
        term.close()
    return EXIT_OK
