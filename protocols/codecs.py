"""Data-item codecs of the card (docs/sources.md §2.5).

``an``: text, GBK, left-aligned, right-padded with 00 (gen1 cards: 20). ``cn``: decimal digits as BCD,
left-aligned, right-padded with nibble F. ``b``: raw bytes, written as hex at the edges. Dates are ``cn``
YYYYMMDD; an early card stores ASCII digits instead. An item that was never set is all FF.
Values are names, ID numbers and dates of birth: error messages say where a value goes wrong, never what it is.
"""
from __future__ import annotations

import datetime as _dt
from enum import Enum


class Fmt(str, Enum):
    AN = "an"
    CN = "cn"
    B = "b"


def encode_an(text: str, length: int, pad: int = 0x00) -> bytes:
    """GBK text right-padded with ``pad`` (00 or 20) to ``length`` bytes; ValueError if it does not fit or has a NUL."""
    if "\x00" in text:
        raise ValueError("an text may not contain NUL")
    try:
        raw = text.encode("gbk")
    except UnicodeEncodeError as exc:
        raise ValueError(f"character {exc.start + 1} cannot be encoded in GBK") from None
    if len(raw) > length:
        raise ValueError(f"{len(raw)} bytes in GBK, the field holds {length}")
    return raw + bytes((pad,)) * (length - len(raw))


def decode_an(raw: bytes) -> str:
    """Text up to the first 00 pad byte, without trailing 20 padding; "" for an unset (all FF) item;
    ValueError if the bytes are not GBK."""
    if raw and raw.count(0xFF) == len(raw):
        return ""
    end = raw.find(0)
    body = raw if end < 0 else raw[:end]
    if end >= 0 and any(raw[end:]):
        raise ValueError("an field has data after its 00 padding")
    try:
        return body.decode("gbk").rstrip(" ")
    except UnicodeDecodeError as exc:
        raise ValueError("an field is not GBK text") from exc


def encode_cn(digits: str, length: int) -> bytes:
    """Digits as BCD right-padded with F to ``length`` bytes."""
    if not digits.isdigit() or not digits.isascii():
        if digits:
            bad = next(i for i, c in enumerate(digits, 1) if not (c.isdigit() and c.isascii()))
            raise ValueError(f"cn value: character {bad} is not a decimal digit")
    if len(digits) > 2 * length:
        raise ValueError(f"cn value of {len(digits)} digits does not fit {length} bytes")
    return bytes.fromhex(digits.ljust(2 * length, "F"))


def decode_cn(raw: bytes) -> str:
    """Digits up to the F pad; ValueError on a non-decimal nibble or a digit after the pad."""
    text = raw.hex().upper()
    end = text.find("F")
    body = text if end < 0 else text[:end]
    if end >= 0 and text[end:].strip("F"):
        raise ValueError(f"cn field of {len(raw)} bytes has digits after its F padding")
    if not body.isdigit() and body:
        raise ValueError(f"cn field of {len(raw)} bytes holds non-decimal nibbles")
    return body


def encode_b(hex_text: str, length: int) -> bytes:
    raw = bytes.fromhex(hex_text)
    if len(raw) != length:
        raise ValueError(f"b value is {len(raw)} bytes, the field holds {length}")
    return raw


def decode_b(raw: bytes) -> str:
    return raw.hex().upper()


def encode(fmt: Fmt, value: str, length: int, pad: int = 0x00) -> bytes:
    """``value`` encoded for a field of ``length`` bytes; ``pad`` is the padding of ``an`` text."""
    if fmt is Fmt.AN:
        return encode_an(value, length, pad)
    if fmt is Fmt.CN:
        return encode_cn(value, length)
    return encode_b(value, length)


def decode(fmt: Fmt, raw: bytes) -> str:
    if fmt is Fmt.AN:
        return decode_an(raw)
    if fmt is Fmt.CN:
        return decode_cn(raw)
    return decode_b(raw)


def decode_date(raw: bytes) -> str:
    """A date item: BCD YYYYMMDD, or ASCII digits as an early card stores them ("2012" → "2012")."""
    if raw.isdigit():                  # every byte 30..39 (bytes.isdigit is ASCII only)
        digits = decode_cn(raw)
        try:
            check_date(digits)
        except ValueError:
            return raw.decode("ascii")
        return digits
    return decode_cn(raw)


def check_date(yyyymmdd: str) -> _dt.date:
    """Parse a YYYYMMDD date; ValueError if it is not a real date."""
    if len(yyyymmdd) != 8:
        raise ValueError(f"a date of {len(yyyymmdd)} characters is not YYYYMMDD")
    if not (yyyymmdd.isdigit() and yyyymmdd.isascii()):
        bad = next(i for i, c in enumerate(yyyymmdd, 1) if not (c.isdigit() and c.isascii()))
        raise ValueError(f"date YYYYMMDD: character {bad} is not a digit")
    try:
        return _dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise ValueError("not a real calendar date (YYYYMMDD)") from None
