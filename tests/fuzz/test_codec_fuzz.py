"""Fuzzing the sans-I/O codecs: APDUs, simple and BER TLV, hex input.

Bad input raises the codec's own error (``MalformedApdu``, ``MalformedFrame``) and nothing else; good input
round-trips.
"""
from __future__ import annotations

import dataclasses

from hypothesis import given, strategies as st

from protocols.apdu import CommandAPDU, ResponseAPDU, from_hex
from protocols.errors import MalformedApdu, MalformedFrame
from protocols.tlv import ber_decode, ber_encode, ber_find, simple_decode, simple_encode
from tests.fuzz.support import budget

apdus = st.builds(CommandAPDU, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
                  st.binary(max_size=300) | st.binary(min_size=256, max_size=1024),
                  st.none() | st.integers(1, 256) | st.integers(1, 65536), st.booleans())


@budget(1000)
@given(st.binary(max_size=300))
def test_apdu_parse_of_any_bytes(raw: bytes) -> None:
    try:
        cmd = CommandAPDU.parse(raw)
    except MalformedApdu:
        return
    assert cmd.to_bytes() == raw                   # what parses, encodes back to the same bytes
    assert 0 <= len(cmd.data) < 65536 and (cmd.le is None or 1 <= cmd.le <= 65536)


@budget(500)
@given(apdus)
def test_apdu_round_trip(cmd: CommandAPDU) -> None:
    raw = cmd.to_bytes()
    back = CommandAPDU.parse(raw)
    uses_extended = len(raw) > 4 and (raw[4] == 0 and len(raw) > 5)
    assert back == dataclasses.replace(cmd, extended=uses_extended)
    assert back.to_bytes() == raw


@budget(300)
@given(st.binary(max_size=20))
def test_response_apdu(raw: bytes) -> None:
    try:
        rsp = ResponseAPDU.parse(raw)
    except MalformedApdu:
        assert len(raw) < 2
        return
    assert rsp.to_bytes() == raw


@budget(300)
@given(st.text(max_size=40))
def test_from_hex_of_any_text(text: str) -> None:
    try:
        from_hex(text)
    except MalformedApdu:
        pass


@budget(1000)
@given(st.binary(max_size=400))
def test_tlv_decoders_of_any_bytes(raw: bytes) -> None:
    for decode in (simple_decode, ber_decode):
        try:
            decode(raw)
        except MalformedFrame:
            pass
    try:
        ber_find(raw, 0x9F0C)
    except MalformedFrame:
        pass


@budget(300)
@given(st.lists(st.tuples(st.integers(1, 0xFE), st.binary(max_size=300)), max_size=6))
def test_simple_tlv_round_trip(items: list[tuple[int, bytes]]) -> None:
    assert simple_decode(b"".join(simple_encode(t, v) for t, v in items)) == items


ber_tags = st.one_of(
    st.integers(0, 0xFF).filter(lambda t: t & 0x1F != 0x1F and t not in (0x00, 0xFF)),
    st.builds(lambda a, b: (a << 8) | b, st.integers(0, 0xDF).map(lambda t: t | 0x1F), st.integers(0, 0x7F)),
)


@budget(300)
@given(st.lists(st.tuples(ber_tags, st.binary(max_size=300)), max_size=5))
def test_ber_round_trip(items: list[tuple[int, bytes]]) -> None:
    assert ber_decode(b"".join(ber_encode(t, v) for t, v in items)) == items


def test_ber_find_survives_deep_nesting() -> None:
    """A card may answer with anything: an FCI nested thousands of levels deep is malformed, not a crash."""
    inner = b"\x80\x01\x00"
    for _ in range(3000):
        n = len(inner)
        inner = b"\xE0" + (bytes([n]) if n < 0x80 else b"\x82" + n.to_bytes(2, "big")) + inner
    try:
        assert ber_find(inner, 0x9F0C) is None
    except MalformedFrame:
        pass
