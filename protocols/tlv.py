"""Simple-TLV and BER-TLV codecs (ISO/IEC 7816-4 §5.2, §5.4).

The card's record items are simple-TLV (1-byte tag, 1-byte length; docs/sources.md §2.2); FCI
templates and the B-TLV files of DF02 are BER-TLV.
"""
from __future__ import annotations

from protocols.errors import MalformedFrame


def simple_encode(tag: int, value: bytes) -> bytes:
    """One simple-TLV item; lengths over 254 use the FF xx xx form."""
    if not 1 <= tag <= 0xFE:
        raise ValueError(f"simple-TLV tag {tag:#x} out of 01..FE")
    n = len(value)
    if n < 0xFF:
        return bytes((tag, n)) + value
    if n <= 0xFFFF:
        return bytes((tag, 0xFF)) + n.to_bytes(2, "big") + value
    raise ValueError("simple-TLV value longer than 65535 bytes")


def simple_decode(data: bytes) -> list[tuple[int, bytes]]:
    """All simple-TLV items in ``data``; raises ``MalformedFrame`` on truncation or a bad tag."""
    items: list[tuple[int, bytes]] = []
    i, n = 0, len(data)
    while i < n:
        tag = data[i]
        if tag in (0x00, 0xFF):
            raise MalformedFrame(f"simple-TLV tag {tag:02X} at offset {i} is invalid")
        if i + 1 >= n:
            raise MalformedFrame(f"simple-TLV item {tag:02X} has no length")
        length = data[i + 1]
        i += 2
        if length == 0xFF:
            if i + 2 > n:
                raise MalformedFrame("truncated three-byte simple-TLV length")
            length = int.from_bytes(data[i:i + 2], "big")
            i += 2
        if i + length > n:
            raise MalformedFrame(f"simple-TLV item {tag:02X} wants {length} bytes, {n - i} left")
        items.append((tag, bytes(data[i:i + length])))
        i += length
    return items


def ber_length(n: int) -> bytes:
    """The length octets of ``n`` in their shortest form (ISO/IEC 7816-4 §5.2.2.2, X.690 §10.1 for DER)."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def ber_encode(tag: int, value: bytes) -> bytes:
    """One BER-TLV item; ``tag`` is the whole tag as an integer (e.g. 0x9F0C, 0x6F)."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return tag_bytes + ber_length(len(value)) + value


def ber_decode(data: bytes) -> list[tuple[int, bytes]]:
    """Top-level BER-TLV items as (tag, value); padding bytes 00/FF between items are skipped."""
    items: list[tuple[int, bytes]] = []
    i, n = 0, len(data)
    while i < n:
        if data[i] in (0x00, 0xFF):
            i += 1
            continue
        start = i
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            while True:
                if i >= n:
                    raise MalformedFrame(f"truncated BER tag at offset {start}")
                tag = (tag << 8) | data[i]
                i += 1
                if not data[i - 1] & 0x80:
                    break
        if i >= n:
            raise MalformedFrame(f"BER item {tag:X} has no length")
        first = data[i]
        i += 1
        if first < 0x80:
            length = first
        elif first == 0x80 or first > 0x84:
            raise MalformedFrame(f"BER length byte {first:02X} unsupported")
        else:
            k = first & 0x7F
            if i + k > n:
                raise MalformedFrame("truncated BER length")
            length = int.from_bytes(data[i:i + k], "big")
            i += k
        if i + length > n:
            raise MalformedFrame(f"BER item {tag:X} wants {length} bytes, {n - i} left")
        items.append((tag, bytes(data[i:i + length])))
        i += length
    return items


def ber_is_constructed(tag: int) -> bool:
    """Bit 6 of the tag's first byte (ISO/IEC 7816-4 §5.2.2.1)."""
    while tag > 0xFF:
        tag >>= 8
    return bool(tag & 0x20)


MAX_BER_DEPTH = 16   # FCI templates nest 3 deep; deeper is malformed, not a reason to recurse without end


def ber_find(data: bytes, tag: int, _depth: int = 0) -> bytes | None:
    """Depth-first search for ``tag`` through constructed items; ``MalformedFrame`` past ``MAX_BER_DEPTH``."""
    if _depth > MAX_BER_DEPTH:
        raise MalformedFrame(f"BER-TLV nested deeper than {MAX_BER_DEPTH} levels")
    for t, v in ber_decode(data):
        if t == tag:
            return v
        if ber_is_constructed(t):
            found = ber_find(v, tag, _depth + 1)
            if found is not None:
                return found
    return None
