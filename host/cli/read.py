"""``sscard read``: the card holder's basic information (EF05, EF06), as a table or JSON."""
from __future__ import annotations

import argparse
import json
from typing import Any

from host.cli.columns import display_width
from host.cli.exits import EXIT_OK
from host.cli.options import reader_arg
from host.spec import open_terminal
from host.terminal import BasicInfo
from protocols.regions import region_name

LABELS = (
    ("name", "姓名", "Name"), ("ssn", "社会保障号码", "Social security number"),
    ("card_number", "卡号", "Card number"), ("region", "发卡地区", "Issuing region"),
    ("issue_date", "发卡日期", "Issue date"), ("expiry_date", "有效期至", "Expiry date"),
    ("spec_version", "规范版本", "Card version"), ("card_id", "卡识别码", "Card identification code"),
    ("sex", "性别", "Sex"), ("birth_date", "出生日期", "Birth date"),
    ("terminal_number", "终端机编号", "Terminal number"), ("authenticated", "卡片认证", "Card authenticated"),
)


def _date(d: str) -> str:
    return f"{d[:4]}-{d[4:6]}-{d[6:]}" if len(d) == 8 else d


def format_basic_info(info: BasicInfo) -> str:
    values = info.as_dict()
    values["region"] = f"{info.region} {region_name(info.region)}"
    for k in ("issue_date", "expiry_date", "birth_date"):
        values[k] = _date(str(values[k]))
    values["sex"] = {"1": "男 male", "2": "女 female"}.get(info.sex, info.sex)
    values["authenticated"] = ("是 yes (" + info.algorithm + ")") if info.authenticated else "否 no"
    labels = [f"{zh} {en}" for _, zh, en in LABELS]
    width = max(display_width(label) for label in labels)
    return "\n".join(label + " " * (width - display_width(label) + 2) + str(values[key])
                     for label, (key, _, _) in zip(labels, LABELS))


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("read", help="read the card holder's basic information (EF05, EF06)")
    reader_arg(sp)
    sp.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    sp.add_argument("--no-auth", action="store_true", help="skip card authentication through the PSAM")
    sp.set_defaults(func=cmd_read)


def cmd_read(args: argparse.Namespace) -> int:
    term = open_terminal(args.reader)
    try:
        info = term.read_basic_info(authenticate=None if not args.no_auth else False)
    finally:
        term.close()
    if args.json:
        print(json.dumps(info.as_dict(), ensure_ascii=False))
    else:
        print(format_basic_info(info))
    return EXIT_OK
