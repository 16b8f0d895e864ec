"""The financial (UnionPay PBOC) application's data: names, data objects and the rules both sides share.

Shapes from EMV 4.3 Book 1 §11–12 (application selection: PSE directory, priority), Book 3 §5.4 (data object
lists), §6.5.8 (GET PROCESSING OPTIONS), §10.2 (the AFL), Annex A (data elements), EMV Contactless Book B §3
(PPSE); PBOC 3.0 (JR/T 0025) keeps them. What real co-branded social security cards and production code show:
docs/sources.md#bank. The emulated card (``firmware_sim.apps.bank``) builds its answers with these functions and
the host (``host.bank``) parses them with the same ones, so a rule is written once.

Card numbers, track 2 and the holder's name are personal data: error messages say where a value goes wrong,
never what it is.
"""
from __future__ import annotations

import calendar
import datetime as _dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from protocols.errors import MalformedFrame
from protocols.tlv import ber_decode, ber_encode, ber_is_constructed

PSE_NAME = b"1PAY.SYS.DDF01"        # payment system environment, contact (EMV Book 1 §12.2.2)
PPSE_NAME = b"2PAY.SYS.DDF01"       # proximity payment system environment (EMV Contactless Book B §3.3)
UNIONPAY_RID = bytes.fromhex("A000000333")
UNIONPAY_DEBIT = bytes.fromhex("A000000333010101")           # docs/sources.md §2.1: the co-branded application
UNIONPAY_CREDIT = bytes.fromhex("A000000333010102")
UNIONPAY_QUASI_CREDIT = bytes.fromhex("A000000333010103")
UNIONPAY_AIDS = (UNIONPAY_DEBIT, UNIONPAY_CREDIT, UNIONPAY_QUASI_CREDIT)
#: The PDOL UnionPay debit applications announce: VLP/e-cash terminal indicator, amount, currency (9 bytes,
#: so GPO is ``80 A8 00 00 0B 83 09 …``; docs/sources.md#bank).
UNIONPAY_DEBIT_PDOL = bytes.fromhex("9F7A01" "9F0206" "5F2A02")
CNY = "0156"                        # ISO 4217 numeric (and the ISO 3166 numeric country code of China)

# --- tags (EMV Book 3 Annex A) ------------------------------------------------------------------------------------
FCI, DF_NAME, FCI_PROPRIETARY, FCI_ISSUER_DATA = 0x6F, 0x84, 0xA5, 0xBF0C
SFI_OF_DIRECTORY, LANGUAGE, CODE_TABLE, PREFERRED_NAME = 0x88, 0x5F2D, 0x9F11, 0x9F12
APP_TEMPLATE, AID, LABEL, PRIORITY, PDOL = 0x61, 0x4F, 0x50, 0x87, 0x9F38
RECORD_TEMPLATE, COMMAND_TEMPLATE, RESPONSE_FORMAT1, RESPONSE_FORMAT2 = 0x70, 0x83, 0x80, 0x77
AIP, AFL = 0x82, 0x94
PAN, TRACK2, TRACK1, HOLDER_NAME, HOLDER_NAME_EXTENDED = 0x5A, 0x57, 0x56, 0x5F20, 0x9F0B
EXPIRY, EFFECTIVE, PAN_SEQUENCE, SERVICE_CODE, ISSUER_COUNTRY = 0x5F24, 0x5F25, 0x5F34, 0x5F30, 0x5F28
TRACK1_DISCRETIONARY, TRACK2_DISCRETIONARY, TRACK2_CONTACTLESS = 0x9F1F, 0x9F20, 0x9F6B
HOLDER_ID_NUMBER = 0x9F61           # PBOC 3.0: the holder's ID number (证件号)

#: Data objects that hold the card number, track data, the holder's name or ID number: traces redact them.
SENSITIVE_TAGS: frozenset[int] = frozenset({
    PAN, TRACK2, TRACK1, HOLDER_NAME, HOLDER_NAME_EXTENDED, TRACK1_DISCRETIONARY, TRACK2_DISCRETIONARY,
    TRACK2_CONTACTLESS, HOLDER_ID_NUMBER})

#: Data elements of format n (numeric BCD, EMV Book 3 Annex A) a terminal puts in a DOL: they are padded and
#: cut on the left (§5.4). The rest are padded and cut on the right.
NUMERIC_TAGS: frozenset[int] = frozenset({
    0x9F02, 0x9F03, 0x5F2A, 0x9F1A, 0x9A, 0x9C, 0x9F21, 0x5F36, 0x9F35, 0x9F41, 0x9F15})


# --- card numbers (ISO/IEC 7812-1) --------------------------------------------------------------------------
def luhn_check_digit(digits: str) -> str:
    """The check digit that completes ``digits`` to a number passing the Luhn formula (ISO/IEC 7812-1 Annex B)."""
    _require_digits(digits, "card number")
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    """True when ``number`` (decimal digits, check digit last) passes the Luhn formula (ISO/IEC 7812-1 Annex B)."""
    if len(number) < 2 or not (number.isascii() and number.isdigit()):
        return False
    return luhn_check_digit(number[:-1]) == number[-1]


def check_pan(pan: str) -> None:
    """ValueError unless ``pan`` is 12–19 decimal digits passing the Luhn formula (EMV Book 3 Annex A tag 5A)."""
    _require_digits(pan, "card number")
    if not 12 <= len(pan) <= 19:
        raise ValueError(f"card number of {len(pan)} digits (12 to 19)")
    if not luhn_valid(pan):
        raise ValueError("card number fails its Luhn check digit (ISO/IEC 7812-1)")


def mask_pan(pan: str) -> str:
    """The first 6 and last 4 digits, the rest ``*``: how a card number may be shown (PCI DSS 3.3)."""
    if len(pan) <= 10:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def _require_digits(text: str, what: str) -> None:
    if not text or not (text.isascii() and text.isdigit()):
        raise ValueError(f"{what}: not decimal digits")


def encode_cn(digits: str, length: int | None = None) -> bytes:
    """Compressed numeric (cn): BCD, right-padded with F (to ``length`` bytes, else to a whole byte)."""
    _require_digits(digits, "cn value")
    size = length if length is not None else (len(digits) + 1) // 2
    if len(digits) > 2 * size:
        raise ValueError(f"cn value of {len(digits)} digits does not fit {size} bytes")
    return bytes.fromhex(digits.ljust(2 * size, "F"))


def decode_cn(raw: bytes, what: str = "cn value") -> str:
    """The digits of a cn field, up to its F padding; ValueError for anything else."""
    text = raw.hex().upper()
    body = text.rstrip("F")
    if not (body.isdigit() or not body):
        raise ValueError(f"{what}: not compressed numeric (BCD digits padded with F)")
    return body


def encode_n(digits: str, length: int) -> bytes:
    """Numeric (n): BCD right-aligned in ``length`` bytes, left-padded with zeros."""
    _require_digits(digits, "n value")
    if len(digits) > 2 * length:
        raise ValueError(f"n value of {len(digits)} digits does not fit {length} bytes")
    return bytes.fromhex(digits.rjust(2 * length, "0"))


def decode_n(raw: bytes, what: str = "n value") -> str:
    text = raw.hex()
    if not text.isdigit():
        raise ValueError(f"{what}: not numeric (BCD digits)")
    return text


def check_yymmdd(text: str, what: str = "date") -> _dt.date:
    """A YYMMDD date (EMV n6; years 2000–2099); ValueError naming ``what`` if it is not a real date."""
    if len(text) != 6 or not (text.isascii() and text.isdigit()):
        raise ValueError(f"{what}: not 6 digits YYMMDD")
    try:
        return _dt.date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        raise ValueError(f"{what}: not a real date YYMMDD") from None


def end_of_month(yymm: str) -> str:
    """YYMMDD of the last day of month YYMM: a track-2 expiry names a month and ends with it (EMV Book 3 Annex A)."""
    if len(yymm) != 4 or not (yymm.isascii() and yymm.isdigit()) or not 1 <= int(yymm[2:]) <= 12:
        raise ValueError("expiry: not YYMM")
    return yymm + str(calendar.monthrange(2000 + int(yymm[:2]), int(yymm[2:]))[1])


# --- track 2 equivalent data (tag 57; EMV Book 3 Annex A, ISO/IEC 7813) ------------------------------------
@dataclass(frozen=True, slots=True)
class Track2:
    pan: str
    expiry: str              # YYMM
    service_code: str        # 3 digits
    discretionary: str       # digits

    def encode(self) -> bytes:
        """PAN ‖ D ‖ YYMM ‖ service code ‖ discretionary data, nibbles, padded with F to a whole byte (≤ 19 bytes)."""
        check_pan(self.pan)
        for value, n, what in ((self.expiry, 4, "expiry"), (self.service_code, 3, "service code")):
            if len(value) != n or not (value.isascii() and value.isdigit()):
                raise ValueError(f"track 2 {what}: not {n} digits")
        if self.discretionary and not (self.discretionary.isascii() and self.discretionary.isdigit()):
            raise ValueError("track 2 discretionary data: not digits")
        nibbles = self.pan + "D" + self.expiry + self.service_code + self.discretionary
        if len(nibbles) > 38:
            raise ValueError(f"track 2 of {len(nibbles)} characters (at most 37)")
        return bytes.fromhex(nibbles.ljust(len(nibbles) + len(nibbles) % 2, "F"))

    @classmethod
    def decode(cls, raw: bytes) -> Track2:
        """The fields of tag 57; ValueError when it is not PAN ‖ D ‖ YYMM ‖ service code ‖ digits ‖ F."""
        text = raw.hex().upper()
        pan, sep, rest = text.partition("D")
        rest = rest.rstrip("F")
        if not sep or not pan.isdigit() or len(rest) < 7 or not rest.isdigit():
            raise ValueError("track 2 equivalent data: not PAN ‖ D ‖ YYMM ‖ service code ‖ digits")
        return cls(pan, rest[:4], rest[4:7], rest[7:])


# --- data object lists (EMV Book 3 §5.4) --------------------------------------------------------------------
def _read_tag(data: bytes, i: int) -> tuple[int, int]:
    """(tag, next offset) of the BER tag at ``data[i]``."""
    start = i
    tag = data[i]
    i += 1
    if tag & 0x1F == 0x1F:
        while True:
            if i >= len(data):
                raise MalformedFrame(f"truncated tag at offset {start}")
            tag = (tag << 8) | data[i]
            i += 1
            if not data[i - 1] & 0x80:
                break
    return tag, i


def parse_dol(dol: bytes) -> tuple[tuple[int, int], ...]:
    """A DOL's (tag, length) entries; ``MalformedFrame`` on truncation or a constructed tag."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(dol):
        tag, i = _read_tag(dol, i)
        if ber_is_constructed(tag):
            raise MalformedFrame(f"DOL entry {tag:X} is a constructed tag")
        if i >= len(dol):
            raise MalformedFrame(f"DOL entry {tag:X} has no length")
        length = dol[i]
        if length & 0x80:
            raise MalformedFrame(f"DOL entry {tag:X}: length byte {length:02X}")
        out.append((tag, length))
        i += 1
    return tuple(out)


def dol_length(dol: bytes) -> int:
    """How many bytes the data of ``dol`` takes."""
    return sum(n for _, n in parse_dol(dol))


def build_dol_data(dol: bytes, values: Mapping[int, bytes]) -> bytes:
    """The data for ``dol`` from the terminal's ``values`` (EMV Book 3 §5.4): a value of another length is cut or
    padded, on the left with 00 for numeric (n) elements (``NUMERIC_TAGS``), else on the right with 00; a data
    object the terminal does not have is all 00."""
    out = bytearray()
    for tag, length in parse_dol(dol):
        value = values.get(tag, b"")
        if len(value) == length:
            out += value
        elif tag in NUMERIC_TAGS:
            out += value[-length:] if len(value) > length else value.rjust(length, b"\x00")
        else:
            out += value[:length].ljust(length, b"\x00")
    return bytes(out)


# --- GET PROCESSING OPTIONS (EMV Book 3 §6.5.8) and the AFL (§10.2) ------------------------------------------
def gpo_data(pdol_data: bytes) -> bytes:
    """The command data of GET PROCESSING OPTIONS: tag 83 with the PDOL data (``83 00`` without a PDOL)."""
    return ber_encode(COMMAND_TEMPLATE, pdol_data)


@dataclass(frozen=True, slots=True)
class AflEntry:
    sfi: int
    first: int
    last: int
    oda: int = 0             # records from ``first`` on that take part in offline data authentication

    def records(self) -> range:
        return range(self.first, self.last + 1)


def parse_afl(afl: bytes) -> tuple[AflEntry, ...]:
    """The AFL's entries (4 bytes each: SFI << 3, first, last, ODA count); ``MalformedFrame`` naming the entry
    that breaks a rule of EMV Book 3 §10.2."""
    if not afl or len(afl) % 4:
        raise MalformedFrame(f"AFL of {len(afl)} bytes is not a whole number of 4-byte entries")
    out = []
    for n in range(0, len(afl), 4):
        b1, first, last, oda = afl[n:n + 4]
        sfi = b1 >> 3
        where = f"AFL entry {n // 4 + 1}"
        if b1 & 0x07 or not 1 <= sfi <= 30:
            raise MalformedFrame(f"{where}: SFI byte {b1:02X} (SFI 1 to 30 in bits 8–4)")
        if first == 0 or last < first:
            raise MalformedFrame(f"{where}: records {first} to {last}")
        if oda > last - first + 1:
            raise MalformedFrame(f"{where}: {oda} ODA records of {last - first + 1}")
        out.append(AflEntry(sfi, first, last, oda))
    return tuple(out)


def encode_afl(entries: tuple[AflEntry, ...]) -> bytes:
    return b"".join(bytes((e.sfi << 3, e.first, e.last, e.oda)) for e in entries)


def afl_records(entries: tuple[AflEntry, ...]) -> Iterator[tuple[int, int]]:
    """Every (SFI, record) the AFL names, in its order."""
    for e in entries:
        for rec in e.records():
            yield e.sfi, rec


def gpo_response(aip: bytes, afl: bytes) -> bytes:
    """Response format 2: ``77 [82 AIP] [94 AFL]`` (EMV Book 3 §6.5.8.4)."""
    return ber_encode(RESPONSE_FORMAT2, ber_encode(AIP, aip) + ber_encode(AFL, afl))


def parse_gpo_response(data: bytes) -> tuple[bytes, tuple[AflEntry, ...]]:
    """(AIP, AFL entries) of a GPO response in format 1 (``80 AIP ‖ AFL``) or 2 (``77`` with 82 and 94)."""
    items = ber_decode(data)
    if len(items) != 1:
        raise MalformedFrame("GPO response: not one template")
    tag, value = items[0]
    if tag == RESPONSE_FORMAT1:
        if len(value) < 6:
            raise MalformedFrame("GPO response format 1: shorter than AIP and one AFL entry")
        return value[:2], parse_afl(value[2:])
    if tag != RESPONSE_FORMAT2:
        raise MalformedFrame(f"GPO response: template {tag:X} (80 or 77 expected)")
    inner = dict(ber_decode(value))
    if AIP not in inner or AFL not in inner or len(inner[AIP]) != 2:
        raise MalformedFrame("GPO response format 2: no 2-byte AIP (82) or no AFL (94)")
    return inner[AIP], parse_afl(inner[AFL])


# --- directories: the PSE's records and the PPSE's FCI (EMV Book 1 §12.2.3, Contactless Book B §3.3) --------
@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    aid: bytes
    label: str
    priority: int            # 87 bits 4–1: 1 is the highest, 0 none (EMV Book 1 §12.2.3)

    def encode(self) -> bytes:
        """``61 [4F AID] [50 label] [87 priority]``."""
        body = ber_encode(AID, self.aid) + ber_encode(LABEL, self.label.encode("ascii"))
        return ber_encode(APP_TEMPLATE, body + ber_encode(PRIORITY, bytes((self.priority,))))

    def order(self) -> tuple[int, int]:
        """Sort key: priorities 1–15 first, in order; entries without a priority last."""
        p = self.priority & 0x0F
        return (0, p) if p else (1, 0)


def directory_entries(data: bytes) -> tuple[DirectoryEntry, ...]:
    """Every application template (61) in a PSE record (70) or a PPSE FCI (6F … BF0C), in order."""
    found: list[DirectoryEntry] = []

    def walk(blob: bytes, depth: int) -> None:
        if depth > 4:
            raise MalformedFrame("directory nested too deeply")
        for tag, value in ber_decode(blob):
            if tag == APP_TEMPLATE:
                inner = dict(ber_decode(value))
                if AID not in inner:
                    raise MalformedFrame("application template (61) without an AID (4F)")
                prio = inner.get(PRIORITY, b"\x00")
                label = inner.get(LABEL, b"").decode("ascii", "replace")
                found.append(DirectoryEntry(inner[AID], label, prio[0] if prio else 0))
            elif ber_is_constructed(tag):
                walk(value, depth + 1)

    walk(data, 0)
    return tuple(found)


# --- records (EMV Book 3 §7.2) --------------------------------------------------------------------------------
def record_objects(record: bytes) -> dict[int, bytes]:
    """The data objects of an application record: one ``70`` template, its primitive objects by tag."""
    items = ber_decode(record)
    if len(items) != 1 or items[0][0] != RECORD_TEMPLATE:
        raise MalformedFrame("record: not one 70 template")
    return {tag: value for tag, value in ber_decode(items[0][1])}


def record(objects: list[tuple[int, bytes]]) -> bytes:
    """A ``70`` template of ``objects`` in their order."""
    return ber_encode(RECORD_TEMPLATE, b"".join(ber_encode(t, v) for t, v in objects))
