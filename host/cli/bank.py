"""``sscard bank``: the co-branded card's bank card number (its UnionPay application), masked unless ``--full``."""
from __future__ import annotations

import argparse
import json
from typing import Any

from host.bank import BankCardInfo
from host.cli.columns import label_table
from host.cli.exits import EXIT_OK
from host.cli.options import on_terminal, reader_arg

LABELS = (
    ("pan", "银行卡号", "Card number"), ("expiry_date", "有效期至", "Expiry date"),
    ("holder_name", "持卡人", "Cardholder"), ("pan_sequence", "卡序列号", "PAN sequence number"),
    ("application", "应用", "Application"), ("found_by", "选择方式", "Selected through"),
)


def format_bank_card(info: BankCardInfo, full: bool = False) -> str:
    values: dict[str, str] = info.as_dict(full)
    if not full:
        values["pan"] += "  (--full shows every digit)"
    d = info.expiry_date
    values["expiry_date"] = f"{d[:4]}-{d[4:6]}-{d[6:]}"
    values["application"] = f"{info.label} ({info.aid})"
    values["found_by"] = {"PSE": "1PAY.SYS.DDF01", "PPSE": "2PAY.SYS.DDF01"}.get(info.found_by, "AID")
    return label_table([(f"{zh} {en}", values[key]) for key, zh, en in LABELS])


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("bank", help="read the bank card number of the card's UnionPay application (masked)")
    reader_arg(sp)
    sp.add_argument("--full", action="store_true", help="show the whole card number (default: first 6, last 4)")
    sp.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    sp.set_defaults(func=cmd_bank)


def cmd_bank(args: argparse.Namespace) -> int:
    info = on_terminal(args, lambda term: term.read_bank_card())
    if args.json:
        print(json.dumps(info.as_dict(args.full), ensure_ascii=False))
    else:
        print(format_bank_card(info, args.full))
    return EXIT_OK
