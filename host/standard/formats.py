"""The standard interface's string formats: pFileAddr, pCardInfo, pWriteData and the outputs (docs/sources.md §6.2).

* ``pFileAddr``: one segment per file, each ending with ``$``; the file name (``SSSEEF05``, ``3F00EF06``,
  ``MFEF06``, ``DF01EF05``; ``DF04EF08:01`` for record 1 of a cyclic file) is followed by its items, each
  ending with ``|``: ``SSSEEF05|05|06|07|$SSSEEF06|08|09|$``. An item is a tag in hex (``09``: the first record
  with that tag) or ``tag:NN`` for the NN-th record (hex, 01 first) of a tag that repeats, the records of a B-TLV
  template (``DF02EF15|99:01|99:02|0F|1F|$``). A segment with no items (``SSSEEF05|$`` or ``SSSEEF05$``) means
  every item of the file.
* The output of iReadCard and the ``pWriteData`` input mirror it with values in place of the tags:
  ``SSSEEF05|20330601|B44030002|$``. A B-TLV template's value is its sub-items' values, each followed by ``,``
  (``DF03EF19|123,440100,20150701,…,|$``), and so is a cyclic record's (its fields): ``DF02EF07:01|环卫,20130630,
  20130630,南京市卫生局,|$`` writes a new newest record.
* ``pCardInfo``: ``卡识别码|卡号|``; empty fields are not checked.
* iWriteCardBas's ``pWriteData``: the basic data in the field order of one vendor's personalisation interface
  (docs/sources.md §6.2), ``卡识别码|初始化机构编号|发卡日期|卡有效期|卡号|社会保障号码|姓名|姓名扩展|性别|民族|出生日期|``.
* ``|`` and ``$`` separate fields and have no escape: no value written or output may hold them (-41), or
  it would add fields to what the counter software reads back.

Text is ``str`` here; a C-ABI shim encodes it as GBK at its edge.
"""
from __future__ import annotations

import datetime as _dt

import re
from dataclasses import dataclass

from host.errors import CardInfoFormat, IllegalInput
from host.separators import check_no_separators
from protocols.purse import check_datetime, parse_yuan

_FILE_RE = re.compile(r"^(SSSE|3F00|MF|DF0[1-9A-F])(EF[0-9A-F]{2})(?::([0-9A-F]{2}))?$")
_ITEM_RE = re.compile(r"^[0-9A-F]{2}(?::[0-9A-F]{2})?$")


@dataclass(frozen=True)
class FileRef:
    """One pFileAddr segment: ``df`` ("SSSE", "DF01" …), ``ef`` ("EF05"), optional cyclic ``record``, items."""

    df: str
    ef: str
    record: int | None
    items: tuple[str, ...]      # upper-case hex tags, "99:01" for the records of a B-TLV template
    name: str                   # the file name as written (upper case), echoed in outputs

    @property
    def path(self) -> str:
        return f"{self.df}{self.ef}"


def _segments(text: str, what: str, hint: str = "") -> list[list[str]]:
    # The messages say where, never what: pWriteData holds the values being written.
    if not text or not text.endswith("$"):
        raise IllegalInput(f"{what} must end with '$' (e.g. SSSEEF05|07|$){hint}")
    out = []
    for n, seg in enumerate(text[:-1].split("$"), 1):
        if not seg:
            raise IllegalInput(f"{what}: file segment {n} is empty{hint}")
        parts = seg.split("|")
        if len(parts) > 1:
            if parts[-1] != "":
                raise IllegalInput(f"{what}: every item must end with '|' (file segment {n}){hint}")
            parts = parts[:-1]
        out.append(parts)
    return out


def parse_file_name(name: str) -> tuple[str, str, int | None]:
    """``SSSEEF05`` → ("SSSE", "EF05", None); ``DF04EF08:01`` → ("DF04", "EF08", 1)."""
    m = _FILE_RE.match(name.strip().upper())
    if not m:
        raise IllegalInput(f"not a file name (SSSEEF05, MFEF06, DF01EF05, DF04EF08:01): {name!r}")
    df = "SSSE" if m.group(1) in ("SSSE", "3F00", "MF") else m.group(1)
    return df, m.group(2), int(m.group(3), 16) if m.group(3) else None


def parse_file_addr(text: str) -> list[FileRef]:
    """Parse a pFileAddr string (docs/sources.md §6.2); ``IllegalInput`` (-23) naming the first problem."""
    refs = []
    for parts in _segments(text.strip(), "pFileAddr"):
        df, ef, record = parse_file_name(parts[0])
        items = tuple(p.strip().upper() for p in parts[1:])
        for it in items:
            if not _ITEM_RE.match(it):
                raise IllegalInput(f"pFileAddr item {it!r} in {parts[0]!r} is not a hex tag (09) or tag:record (99:01)")
        if record is not None and items:
            raise IllegalInput(f"{parts[0]!r} names a cyclic record; it takes no items")
        refs.append(FileRef(df, ef, record, items, parts[0].strip().upper()))
    return refs


def parse_write_data(text: str, refs: list[FileRef]) -> list[tuple[str, ...]]:
    """The values of a pWriteData string, one tuple per pFileAddr segment, checked against its shape."""
    hint = " (| and $ separate the values: no value may contain them)"
    segs = _segments(text, "pWriteData", hint)
    if len(segs) != len(refs):
        raise IllegalInput(f"pWriteData has {len(segs)} file segment(s), pFileAddr has {len(refs)}{hint}")
    values = []
    for n, (parts, ref) in enumerate(zip(segs, refs), 1):
        if parts[0].strip().upper() != ref.name:
            raise IllegalInput(f"pWriteData segment {n} does not name pFileAddr file {ref.name!r}{hint}")
        expected = 1 if ref.record is not None else len(ref.items)    # a cyclic record: one value, its fields
        if len(parts) - 1 != expected:
            raise IllegalInput(f"{ref.name}: {len(parts) - 1} value(s) for {expected} item(s){hint}")
        values.append(tuple(parts[1:]))
    return values


def format_file_values(refs: list[FileRef], values: list[list[str]]) -> str:
    """The iReadCard output: pFileAddr with values in place of the tags (-41 if a value holds | or $)."""
    for ref, vals in zip(refs, values):
        for n, v in enumerate(vals, 1):
            check_no_separators(v, f"{ref.name} value {n} as read from the card")
    return "".join(ref.name + "|" + "".join(v + "|" for v in vals) + "$" for ref, vals in zip(refs, values))


#: iWriteCardBas's pWriteData fields in order: (file, item name) of the shipped profiles.
BASIC_WRITE_FIELDS: tuple[tuple[str, str], ...] = (
    ("SSSEEF05", "card_id"), ("SSSEEF05", "init_org"), ("SSSEEF05", "issue_date"), ("SSSEEF05", "expiry_date"),
    ("SSSEEF05", "card_number"), ("SSSEEF06", "ssn"), ("SSSEEF06", "name"), ("SSSEEF06", "name_ext"),
    ("SSSEEF06", "sex"), ("SSSEEF06", "ethnicity"), ("SSSEEF06", "birth_date"),
)


def parse_basic_write_data(text: str) -> list[tuple[str, str, str]]:
    """iWriteCardBas's pWriteData as ``(file, item name, value)`` in :data:`BASIC_WRITE_FIELDS` order; -23 unless
    it has exactly those fields, each ending with ``|``."""
    parts = text.split("|")
    if len(parts) != len(BASIC_WRITE_FIELDS) + 1 or parts[-1] != "":
        raise IllegalInput(f"pWriteData must be {len(BASIC_WRITE_FIELDS)} fields each ending with '|' (卡识别码|"
                           "初始化机构编号|发卡日期|卡有效期|卡号|社会保障号码|姓名|姓名扩展|性别|民族|出生日期|); "
                           "| separates the values: no value may contain it")
    return [(path, name, value) for (path, name), value in zip(BASIC_WRITE_FIELDS, parts)]


@dataclass(frozen=True)
class CardInfo:
    card_id: str        # 32 hex digits or "" (not checked)
    card_number: str    # 9 characters or "" (not checked)


def parse_card_info(text: str | None) -> CardInfo:
    """``卡识别码|卡号|`` (docs/sources.md §6.2). Empty input or empty fields are accepted and not checked."""
    if not text:
        return CardInfo("", "")
    parts = text.split("|")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if len(parts) > 2:
        raise IllegalInput(f"pCardInfo has {len(parts)} fields, expected 卡识别码|卡号|")
    card_id = parts[0].strip().upper() if parts else ""
    number = parts[1].strip() if len(parts) > 1 else ""
    if card_id and not re.fullmatch(r"[0-9A-F]{32}", card_id):
        raise CardInfoFormat(f"pCardInfo: the card identification code ({len(card_id)} characters) "
                             "is not 32 hex digits")
    return CardInfo(card_id, number)


def join_fields(fields: list[str] | tuple[str, ...]) -> str:
    """Fields each followed by ``|`` (the last one too), as every pOutInfo is (docs/sources.md §6.2); -41 if a field holds
    a separator (a card's data that would add fields)."""
    for n, f in enumerate(fields, 1):
        check_no_separators(f, f"output field {n}")
    return "".join(f"{f}|" for f in fields)


def split_fields(text: str) -> list[str]:
    """Inverse of :func:`join_fields`."""
    parts = text.split("|")
    return parts[:-1] if parts and parts[-1] == "" else parts


@dataclass(frozen=True)
class PayInfo:
    """iDoDebit's pPayInfo (docs/sources.md §6.2): ``amount|bill total|YYYYMMDDhhmmss|`` — the sample's shape
    (S10: two amounts and a time); what each field means is the project's choice: the amount the purse pays, the
    bill's total (at least the amount; not sent to the card), the transaction time (empty: now). Amounts in yuan."""

    amount: int
    total: int
    when: _dt.datetime | None


def parse_pay_info(text: str) -> PayInfo:
    """Parse pPayInfo; -23 (``IllegalInput``) naming the field that is wrong (never its value)."""
    parts = (text or "").split("|")
    if len(parts) != 4 or parts[3] != "":
        raise IllegalInput("pPayInfo: expected amount|bill total|YYYYMMDDhhmmss| (three fields, each ending with |)")
    try:
        amount = parse_yuan(parts[0])
    except ValueError as exc:
        raise IllegalInput(f"pPayInfo field 1 (amount): {exc}") from None
    if amount == 0:
        raise IllegalInput("pPayInfo field 1 (amount): at least 0.01 yuan")
    total = amount
    if parts[1].strip():
        try:
            total = parse_yuan(parts[1])
        except ValueError as exc:
            raise IllegalInput(f"pPayInfo field 2 (bill total): {exc}") from None
        if total < amount:
            raise IllegalInput("pPayInfo field 2 (bill total): less than the amount")
    when = None
    if parts[2].strip():
        stamp = parts[2].strip()
        try:
            when = check_datetime(bytes.fromhex(stamp)) if len(stamp) == 14 and stamp.isdigit() else None
        except ValueError:
            when = None
        if when is None:
            raise IllegalInput("pPayInfo field 3 (time): expected YYYYMMDDhhmmss, a real date and time")
    return PayInfo(amount, total, when)


def parse_hsm_pay_info(text: str) -> tuple[PayInfo, str]:
    """iDoDebit_HSM_Step1's pPayInfo: iDoDebit's three fields, optionally followed by a fourth, the terminal number
    (12 digits) a counter without a PSAM debits under (docs/sources.md §6.4; the project's choice). Returns the
    pay info and the terminal number ("" when not given); -23 naming the field that is wrong."""
    parts = (text or "").split("|")
    if len(parts) != 5 or parts[4] != "":
        return parse_pay_info(text), ""
    terminal = parts[3].strip()
    if terminal and not (len(terminal) == 12 and terminal.isascii() and terminal.isdigit()):
        raise IllegalInput("pPayInfo field 4 (terminal number): expected 12 digits")
    return parse_pay_info("|".join(parts[:3]) + "|"), terminal
