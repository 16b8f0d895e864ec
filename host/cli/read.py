"""``sscard read``: the card holder's view (EF05, EF06 and the other coded items a counter shows), as a table or
JSON; ``--photo FILE`` saves the photo (EF08); ``--all`` every file of every DF with each item's title and name
(a B-TLV template's sub-items, a cyclic file's records), files the terminal cannot open named with the reason.

Codes are shown with their names from the tables in ``protocols`` (region codes GB/T 2260, ethnicity GB 3304,
nationality GB/T 2659, sex GB/T 2261.1); a code a table does not have is shown as it is, marked unknown. Region
names are Chinese in every language: the official lists have no English names. A card past its expiry date, or
before its issue date, gets one warning line on stderr; the exit code stays 0.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any

from host.cli.columns import label_table
from host.cli.exits import EXIT_CARD, EXIT_OK
from host.cli.options import on_terminal, reader_arg
from host.spec import open_terminal
from host.terminal import BasicInfo, FileValues, Holder
from protocols import holder_codes
from protocols.codecs import check_date
from protocols.holder_codes import Named
from protocols.pin import check_pin
from protocols.profile import SUB_SEPARATOR, BinaryFile, Item
from protocols.regions import lookup

LANGS = ("zh", "en", "both")

# (key, Chinese label, English label), in the order the table shows them; keys of BasicInfo or Holder.items.
LABELS = (
    ("name", "姓名", "Name"), ("ssn", "社会保障号码", "Social security number"),
    ("card_number", "卡号", "Card number"), ("region", "发卡地区", "Issuing region"),
    ("issue_date", "发卡日期", "Issue date"), ("expiry_date", "有效期至", "Expiry date"),
    ("spec_version", "规范版本", "Card version"), ("card_id", "卡识别码", "Card identification code"),
    ("card_type", "卡的类别", "Card type"),
    ("sex", "性别", "Sex"), ("ethnicity", "民族", "Ethnicity"), ("birthplace", "出生地", "Birthplace"),
    ("birth_date", "出生日期", "Birth date"), ("nationality", "国籍", "Nationality"),
    ("first_region", "初次申领地", "First application region"), ("residence_region", "常住地", "Residence region"),
    ("terminal_number", "终端机编号", "Terminal number"), ("authenticated", "卡片认证", "Card authenticated"),
)
REGION_KEYS = ("region", "birthplace", "first_region", "residence_region")
DATE_KEYS = ("issue_date", "expiry_date", "birth_date")
UNKNOWN_REGION = Named("未知地区", "unknown region")
UNKNOWN_ETHNICITY = Named("未知民族", "unknown ethnicity")
UNKNOWN_NATIONALITY = Named("未知国籍", "unknown nationality")


def pick(named: Named, lang: str) -> str:
    """The Chinese, the English, or both ('男 male')."""
    return named.zh if lang == "zh" else named.en if lang == "en" else f"{named.zh} {named.en}"


def _date(d: str) -> str:
    return f"{d[:4]}-{d[4:6]}-{d[6:]}" if len(d) == 8 else d


def region_text(code: str, lang: str) -> str:
    """'440106 广东省广州市天河区'; a retired code says since when; an unknown one says so."""
    if not code:
        return ""
    region = lookup(code)
    if region is None:
        return f"{code} {pick(UNKNOWN_REGION, lang)}"
    text = f"{code} {region.name}"
    if region.retired is not None:
        y = region.retired
        text += {"zh": f"（{y}年起停用）", "en": f" (code retired {y})"}.get(lang, f"（{y}年起停用 code retired {y}）")
    return text


def _coded(code: str, named: Named | None, unknown: Named, lang: str) -> str:
    if not code:
        return ""
    return f"{code} {pick(named or unknown, lang)}"


def view_values(holder: Holder, lang: str = "both") -> dict[str, str]:
    """Every row's text by key; items the card did not give are left out."""
    info = holder.basic
    values = {key: str(value) for key, value in info.as_dict().items()}
    values.update(holder.items)
    for key in REGION_KEYS:
        if key in values:
            values[key] = region_text(values[key], lang)
    for key in DATE_KEYS:
        values[key] = _date(values[key])
    sex = holder_codes.sex(info.sex)
    values["sex"] = pick(sex, lang) if sex else info.sex
    values["ethnicity"] = _coded(info.ethnicity, holder_codes.ethnicity(info.ethnicity), UNKNOWN_ETHNICITY, lang)
    if "nationality" in values:
        code = holder.items["nationality"]
        values["nationality"] = _coded(code, holder_codes.nationality(code), UNKNOWN_NATIONALITY, lang)
    answer = pick(Named("是", "yes") if info.authenticated else Named("否", "no"), lang)
    values["authenticated"] = answer + (f" ({info.algorithm})" if info.authenticated else "")
    return values


def format_holder(holder: Holder, lang: str = "both") -> str:
    """The table: one row per item, labels aligned by display width (CJK characters take two columns)."""
    values = view_values(holder, lang)
    return label_table([(pick(Named(zh, en), lang), values[key]) for key, zh, en in LABELS if key in values])


def format_basic_info(info: BasicInfo, lang: str = "both") -> str:
    """The table for the basic information alone (no other items)."""
    return format_holder(Holder(info, {}), lang)


def _day(d: str) -> dt.date | None:
    try:
        return check_date(d)
    except ValueError:
        return None


def validity(info: BasicInfo, today: dt.date) -> str:
    """'expired' (today is after the expiry date), 'not_yet_valid' (before the issue date), 'valid', or
    'unknown' when the card's dates are not full dates (unset, or ASCII years on early cards)."""
    issued, expires = _day(info.issue_date), _day(info.expiry_date)
    if expires is not None and today > expires:
        return "expired"
    if issued is not None and today < issued:
        return "not_yet_valid"
    return "valid" if issued is not None and expires is not None else "unknown"


def validity_warning(info: BasicInfo, today: dt.date, lang: str = "both") -> str | None:
    """One line for an expired or not-yet-valid card, None otherwise."""
    state = validity(info, today)
    if state == "expired":
        d = _date(info.expiry_date)
        zh, en = f"卡已过期（有效期至 {d}）", f"the card has expired (expiry date {d})"
    elif state == "not_yet_valid":
        d = _date(info.issue_date)
        zh, en = f"卡尚未生效（发卡日期 {d}）", f"the card is not valid yet (issue date {d})"
    else:
        return None
    return {"zh": f"警告：{zh}", "en": f"warning: {en}"}.get(lang, f"警告 warning: {zh} {en}")


def save_photo(path: str, photo: bytes) -> None:
    """Write the photo's bytes as they are; a new file is created ``0600`` (it is personal data)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(photo)


def _parts(item: Item | None, value: str) -> list[tuple[str, str]]:
    """A template's (or cyclic record's) value as (sub-item tag or field number, value) pairs."""
    if item is None or not item.subs:
        return []
    values = value.split(SUB_SEPARATOR)[:len(item.subs)] if value and not value.startswith("<") else []
    values += [""] * (len(item.subs) - len(values))
    return [(f"{n}" if item.bare else f"{sub.tag:02X}", v) for n, (sub, v) in enumerate(zip(item.subs, values), 1)]


def format_all(files: list[FileValues]) -> str:
    """Every DF, file and item: ``  79:01  参保地信息（1） insurance_region_1`` then its sub-items."""
    lines: list[str] = []
    df_name = ""
    for f in files:
        if f.df.name != df_name:
            df_name = f.df.name
            lines.append(f"{f.df.name} {f.df.title}")
        kind = "binary" if isinstance(f.ef, BinaryFile) else "cyclic" if f.ef.cyclic_records else "records"
        head = f"  {f.ef.name} {f.ef.title} ({kind}, read {f.ef.read})"
        lines.append(head + (f": not read — {f.skipped}" if f.skipped and not f.values else ""))
        for address, item, value in f.values:
            label = f"{item.title} {item.name}" if item is not None and address[0] != ":" else \
                (f"{item.title} {address[1:]}" if item is not None else f.ef.title)
            parts = _parts(item, value)
            lines.append(f"    {address:<6} {label}" + ("  " + value if value and not parts else ""))
            lines += [f"           {tag:<3} {v}".rstrip() for tag, v in parts]
        if not f.values and not f.skipped:
            lines.append("    (no records)")
        if f.skipped and f.values:
            lines.append(f"    (stopped: {f.skipped})")
    return "\n".join(lines)


def all_json(files: list[FileValues]) -> dict[str, Any]:
    """``{"DF03EF19": {"insurance_region_1": {"18": …}, …}, …, "skipped": {"DF03EF19": "needs the PIN"}}``."""
    out: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for f in files:
        path = f.df.name + f.ef.name
        if f.skipped:
            skipped[path] = f.skipped
        if f.values:
            out[path] = {(address if item is None or address[0] == ":" else item.name):
                         (dict(_parts(item, value)) if item is not None and item.subs else value)
                         for address, item, value in f.values}
    out["skipped"] = skipped
    return out


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("read", help="read the card holder's information (EF05, EF06 and the coded items)")
    reader_arg(sp)
    sp.add_argument("--json", action="store_true", help="one JSON object (the codes as the card holds them)")
    sp.add_argument("--no-auth", action="store_true",
                    help="skip authentication through the PSAM (and the items that need a key)")
    sp.add_argument("--photo", metavar="FILE", help="save the holder's photo (JPEG, EF08) to FILE")
    sp.add_argument("--lang", choices=LANGS, default="both", help="labels and names: zh, en or both (default)")
    sp.add_argument("--all", action="store_true",
                    help="every file of every DF (DF01–DF07 too) with each item's title and name; a file needing "
                         "a key is opened through the PSAM, one needing the PIN only with --pin")
    sp.add_argument("--pin", metavar="PIN", help="with --all: the holder's PIN, for the files that need it")
    sp.set_defaults(func=cmd_read)


def cmd_read(args: argparse.Namespace) -> int:
    if args.all:
        return cmd_read_all(args)
    if args.pin is not None:
        raise ValueError("read: --pin goes with --all")
    term = open_terminal(args.reader)
    try:
        holder = term.read_holder(authenticate=None if not args.no_auth else False)
        photo = term.read_photo() if args.photo else None
    finally:
        term.close()
    today = dt.date.today()
    if args.json:
        data = holder.basic.as_dict()
        data.update({name: holder.items.get(name) for name in ("nationality", "first_region", "residence_region")})
        data["validity"] = validity(holder.basic, today)
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(format_holder(holder, args.lang))
    warning = validity_warning(holder.basic, today, args.lang)
    if warning:
        print(f"sscard: {warning}", file=sys.stderr)
    if photo is not None:
        if not photo:
            none = {"zh": f"卡内没有照片，未写入 {args.photo}", "en": f"the card holds no photo; {args.photo} not written"}
            print("sscard: " + none.get(args.lang, f"{none['zh']} · {none['en']}"), file=sys.stderr)
            return EXIT_CARD
        save_photo(args.photo, photo)
    return EXIT_OK


def cmd_read_all(args: argparse.Namespace) -> int:
    if args.pin is not None:
        check_pin(args.pin)
    files = on_terminal(args, lambda term: term.read_all(pin=args.pin, use_keys=not args.no_auth))
    print(json.dumps(all_json(files), ensure_ascii=False) if args.json else format_all(files))
    return EXIT_OK
