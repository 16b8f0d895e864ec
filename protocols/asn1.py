"""A small DER writer and reader: what an X.509 certificate with SM2 keys needs (ITU-T X.690 §8, §10).

The PKI application's certificates (``protocols.x509``) are built and read with it: `cryptography` can read an
SM2 certificate's names but neither its key nor sign one, and no other library here writes SM2 certificates.
Only the universal types a certificate uses are covered: BOOLEAN, INTEGER, BIT STRING, OCTET STRING, NULL,
OBJECT IDENTIFIER, UTF8String, PrintableString, UTCTime, GeneralizedTime, SEQUENCE, SET, and context-specific
tags. The reader is strict (DER, X.690 §10): definite lengths in their shortest form, no trailing bytes, and a
malformed input raises ``MalformedFrame`` naming what was wrong, never an ``IndexError``.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

from protocols.errors import MalformedFrame
from protocols.tlv import ber_length

# Universal tags (X.680 §8.4) and the constructed forms certificates use.
BOOLEAN, INTEGER, BIT_STRING, OCTET_STRING, NULL, OID = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
UTF8_STRING, PRINTABLE_STRING, IA5_STRING = 0x0C, 0x13, 0x16
UTC_TIME, GENERALIZED_TIME = 0x17, 0x18
SEQUENCE, SET = 0x30, 0x31


# --- writing ----------------------------------------------------------------------------------------------------
def length(n: int) -> bytes:
    """The DER length octets of ``n`` (X.690 §10.1: the shortest form)."""
    return ber_length(n)


def tlv(tag: int, value: bytes) -> bytes:
    """One DER item with a one-byte tag."""
    if not 0 <= tag <= 0xFF or tag & 0x1F == 0x1F:
        raise ValueError(f"tag {tag:#x}: only one-byte tags are written")
    return bytes((tag,)) + length(len(value)) + value


def sequence(*parts: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """SET OF, its elements sorted as DER requires (X.690 §11.6)."""
    return tlv(SET, b"".join(sorted(parts)))


def integer(value: int) -> bytes:
    """INTEGER in two's complement, the fewest octets (X.690 §8.3)."""
    n = (value + (value < 0)).bit_length() // 8 + 1
    return tlv(INTEGER, value.to_bytes(n, "big", signed=True))


def boolean(value: bool) -> bytes:
    return tlv(BOOLEAN, b"\xFF" if value else b"\x00")


def null() -> bytes:
    return tlv(NULL, b"")


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def bit_string(value: bytes, unused: int = 0) -> bytes:
    """BIT STRING of whole octets, or with ``unused`` trailing bits of the last octet zero (X.690 §8.6, §11.2)."""
    if not 0 <= unused <= 7 or (unused and (not value or value[-1] & ((1 << unused) - 1))):
        raise ValueError("unused bits must be 0..7 and zero")
    return tlv(BIT_STRING, bytes((unused,)) + value)


def oid(dotted: str) -> bytes:
    """OBJECT IDENTIFIER from its dotted form (X.690 §8.19)."""
    return tlv(OID, oid_body(dotted))


def oid_body(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39) or min(arcs) < 0:
        raise ValueError(f"{dotted}: not an object identifier")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def utf8_string(text: str) -> bytes:
    return tlv(UTF8_STRING, text.encode("utf-8"))


_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def printable_string(text: str) -> bytes:
    """PrintableString (X.680 §41.4): letters, digits and `` '()+,-./:=?``."""
    if not set(text) <= _PRINTABLE:
        raise ValueError("not a PrintableString")
    return tlv(PRINTABLE_STRING, text.encode("ascii"))


def time(moment: _dt.datetime) -> bytes:
    """UTCTime for 1950–2049, else GeneralizedTime, in whole seconds and UTC ("Z"): RFC 5280 §4.1.2.5."""
    if moment.tzinfo is None:
        raise ValueError("a certificate time needs a time zone")
    moment = moment.astimezone(_dt.UTC)
    if 1950 <= moment.year <= 2049:
        return tlv(UTC_TIME, moment.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return tlv(GENERALIZED_TIME, moment.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def explicit(number: int, inner: bytes) -> bytes:
    """``[number] EXPLICIT`` (context-specific, constructed)."""
    return tlv(0xA0 | number, inner)


def implicit(number: int, value: bytes, constructed: bool = False) -> bytes:
    """``[number] IMPLICIT`` with the content octets ``value``."""
    return tlv((0xA0 if constructed else 0x80) | number, value)


# --- reading ----------------------------------------------------------------------------------------------------
def read(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """The item at ``offset``: (tag, value, offset after it). One-byte tags, DER lengths only."""
    n = len(data)
    if offset >= n:
        raise MalformedFrame(f"DER: no item at offset {offset}")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise MalformedFrame(f"DER: multi-byte tag at offset {offset}")
    i = offset + 1
    if i >= n:
        raise MalformedFrame(f"DER: item {tag:02X} at offset {offset} has no length")
    first = data[i]
    i += 1
    if first < 0x80:
        size = first
    elif first == 0x80:
        raise MalformedFrame(f"DER: indefinite length at offset {offset}")
    else:
        k = first & 0x7F
        if k > 4 or i + k > n:
            raise MalformedFrame(f"DER: length of {k} octets at offset {offset}")
        size = int.from_bytes(data[i:i + k], "big")
        if size < 0x80 or data[i] == 0:
            raise MalformedFrame(f"DER: length at offset {offset} not in its shortest form")
        i += k
    if i + size > n:
        raise MalformedFrame(f"DER: item {tag:02X} at offset {offset} wants {size} bytes, {n - i} left")
    return tag, bytes(data[i:i + size]), i + size


def one(data: bytes, tag: int | None = None, what: str = "item") -> bytes:
    """The value of the single item ``data`` holds (nothing after it); ``tag`` checked when given."""
    got, value, end = read(data)
    if end != len(data):
        raise MalformedFrame(f"DER: {len(data) - end} bytes after the {what}")
    if tag is not None and got != tag:
        raise MalformedFrame(f"DER: {what} has tag {got:02X}, expected {tag:02X}")
    return value


def items(value: bytes) -> list[tuple[int, bytes]]:
    """The items inside a constructed value, in order, as (tag, value)."""
    out, i = [], 0
    while i < len(value):
        tag, inner, i = read(value, i)
        out.append((tag, inner))
    return out


def expect(found: Iterable[tuple[int, bytes]], *tags: int, what: str) -> list[bytes]:
    """The values of exactly the items ``tags`` names, in that order; ``MalformedFrame`` otherwise."""
    found = list(found)
    if [t for t, _ in found] != list(tags):
        raise MalformedFrame(f"DER: {what}: tags {' '.join(f'{t:02X}' for t, _ in found)}, expected "
                             f"{' '.join(f'{t:02X}' for t in tags)}")
    return [v for _, v in found]


def expect_all(found: Iterable[tuple[int, bytes]], tag: int, what: str) -> list[bytes]:
    """The values of items that must all have ``tag`` (the elements of a SEQUENCE OF or SET OF)."""
    out = []
    for got, value in found:
        if got != tag:
            raise MalformedFrame(f"DER: {what} has tag {got:02X}, expected {tag:02X}")
        out.append(value)
    return out


def read_integer(value: bytes) -> int:
    """An INTEGER's content octets (X.690 §8.3.2: minimal)."""
    if not value or (len(value) > 1 and ((value[0] == 0 and not value[1] & 0x80)
                                         or (value[0] == 0xFF and value[1] & 0x80))):
        raise MalformedFrame("DER: INTEGER not in its shortest form")
    return int.from_bytes(value, "big", signed=True)


def read_oid(value: bytes) -> str:
    """An OBJECT IDENTIFIER's content octets as its dotted form."""
    if not value or value[-1] & 0x80:
        raise MalformedFrame("DER: OBJECT IDENTIFIER truncated")
    arcs, arc = [], 0
    for i, b in enumerate(value):
        if arc == 0 and b == 0x80 and (i == 0 or not value[i - 1] & 0x80):
            raise MalformedFrame("DER: OBJECT IDENTIFIER arc not in its shortest form")
        arc = (arc << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(arc)
            arc = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def read_bit_string(value: bytes) -> bytes:
    """A BIT STRING of whole octets (its unused-bits octet must be 0)."""
    if not value or value[0] != 0:
        raise MalformedFrame("DER: BIT STRING is not whole octets")
    return value[1:]


def read_time(tag: int, value: bytes) -> _dt.datetime:
    """UTCTime (YYMMDDHHMMSSZ, years 1950–2049) or GeneralizedTime (YYYYMMDDHHMMSSZ) in UTC: RFC 5280 §4.1.2.5."""
    text = value.decode("ascii", "replace")
    formats = {UTC_TIME: ("%y%m%d%H%M%SZ", 13), GENERALIZED_TIME: ("%Y%m%d%H%M%SZ", 15)}
    if tag not in formats or len(text) != formats[tag][1]:
        raise MalformedFrame(f"DER: not a certificate time ({tag:02X}, {text!r})")
    try:
        moment = _dt.datetime.strptime(text, formats[tag][0]).replace(tzinfo=_dt.UTC)
    except ValueError:
        raise MalformedFrame(f"DER: not a certificate time ({text!r})") from None
    if tag == UTC_TIME and moment.year >= 2050:
        moment = moment.replace(year=moment.year - 100)     # RFC 5280: YY ≥ 50 is 19YY
    return moment


def read_string(tag: int, value: bytes) -> str:
    """A directory string's text: UTF8String, PrintableString, IA5String."""
    try:
        if tag == UTF8_STRING:
            return value.decode("utf-8")
        if tag in (PRINTABLE_STRING, IA5_STRING):
            return value.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedFrame(f"DER: string {tag:02X} is not in its character set") from None
    raise MalformedFrame(f"DER: string type {tag:02X} is not read")

