"""Data-item codecs of the card (sscard-spec-notes §2.5).

``an``: text, GBK, left-aligned, right-padded with 00. ``cn``: decimal digits as BCD, left-aligned,
right-padded with nibble F. ``b``: raw bytes, written as hex at the edges. Dates are ``cn`` YYYYMMDD.
"""
from __future__ import annotations

import datetime as _dt
from enum import Enum


class Fmt(str, Enum):
    AN = "an"
    CN = "cn"
    B = "b"


def encode_an(text: str, length: int) -> bytes:
    """GBK text right-padded with 00 to ``length`` bytes; ValueError if it does not fit or has a NUL."""
    if "\x00" in text:
        raise ValueError("an text may not contain NUL")
    try:
        raw = text.encode("gbk")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{text!r} has characters GBK cannot encode") from exc
    if len(raw) > length:
        raise ValueError(f"{text!r} is {len(raw)} bytes in GBK, the field holds {length}")
    return raw + b"\x00" * (length - len(raw))


def decode_an(raw: bytes) -> str:
    """Text up to the first 00 pad byte; ValueError if the bytes are not GBK."""
    end = raw.find(0)
    body = raw if end < 0 else raw[:end]
    if end >= 0 and any(raw[end:]):
        raise ValueError("an field has data after its 00 padding")
    try:
        return body.decode("gbk")
    except UnicodeDecodeError as exc:
        raise ValueError("an field is not GBK text") from exc


def encode_cn(digits: str, length: int) -> bytes:
    """Digits as BCD right-padded with F to ``length`` bytes."""
    if not digits.isdigit() or not digits.isascii():
        if digits:
            raise ValueError(f"cn value {digits!r} is not all decimal digits")
    if len(digits) > 2 * length:
        raise ValueError(f"cn value of {len(digits)} digits does not fit {length} bytes")
    return bytes.fromhex(digits.ljust(2 * length, "F"))


def decode_cn(raw: bytes) -> str:
    """Digits up to the F pad; ValueError on a non-decimal nibble or a digit after the pad."""
    text = raw.hex().upper()
    end = text.find("F")
    body = text if end < 0 else text[:end]
    if end >= 0 and text[end:].strip("F"):
        raise ValueError(f"cn field {text} has digits after its F padding")
    if not body.isdigit() and body:
        raise ValueError(f"cn field {text} holds non-decimal nibbles")
    return body


def encode_b(hex_text: str, length: int) -> bytes:
    raw = bytes.fromhex(hex_text)
    if len(raw) != length:
        raise ValueError(f"b value is {len(raw)} bytes, the field holds {length}")
    return raw


def decode_b(raw: bytes) -> str:
    return raw.hex().upper()


def encode(fmt: Fmt, value: str, length: int) -> bytes:
    if fmt is Fmt.AN:
        return encode_an(value, length)
    if fmt is Fmt.CN:
        return encode_cn(value, length)
    return encode_b(value, length)


def decode(fmt: Fmt, raw: bytes) -> str:
    if fmt is Fmt.AN:
        return decode_an(raw)
    if fmt is Fmt.CN:
        return decode_cn(raw)
    return decode_b(raw)


def check_date(yyyymmdd: str) -> _dt.date:
    """Parse a YYYYMMDD date; ValueError if it is not a real date."""
    if len(yyyymmdd) != 8 or not (yyyymmdd.isascii() and yyyymmdd.isdigit()):
        raise ValueError(f"date {yyyymmdd!r} is not YYYYMMDD")
    return _dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
