"""APDU codec: cases 1–4, short and extended, and precise rejection (ISO 7816-4 §5.1)."""
from __future__ import annotations

import pytest

from protocols.apdu import CommandAPDU, ResponseAPDU, from_hex
from protocols.errors import MalformedApdu


@pytest.mark.parametrize("hex_, case, data, le, ext", [
    ("00A40000", 1, b"", None, False),
    ("00B2072C0B", 2, b"", 11, False),
    ("00B2072C00", 2, b"", 256, False),
    ("00A4020002EF05", 3, b"\xEF\x05", None, False),
    ("00A4040002EF0500", 4, b"\xEF\x05", 256, False),
    ("00B0000000FFFF", 2, b"", 0xFFFF, True),
    ("00B0000000000000"[:14], 2, b"", 65536, True),
    ("00D600000001020304"[:8] + "000002" + "AABB", 3, b"\xAA\xBB", None, True),
    ("00D60000000002AABB0100", 4, b"\xAA\xBB", 256, True),
])
def test_parse_cases(hex_: str, case: int, data: bytes, le: int | None, ext: bool) -> None:
    cmd = CommandAPDU.parse(bytes.fromhex(hex_))
    assert (cmd.case, cmd.data, cmd.le, cmd.extended) == (case, data, le, ext)
    assert CommandAPDU.parse(cmd.to_bytes()) == cmd


@pytest.mark.parametrize("hex_, reason", [
    ("00A400", "shorter than its 4-byte header"),
    ("00A4020003EF05", "Lc 3 does not match"),
    ("00A4020001EF0500", "Lc 1 does not match"),
    ("00B000000001", "truncated extended length"),
    ("00D6000000000001", "extended Lc of 0"),
    ("00D60000000003AABB", "extended Lc 3 does not match"),
])
def test_malformed_apdus_are_rejected_with_the_reason(hex_: str, reason: str) -> None:
    with pytest.raises(MalformedApdu, match=reason):
        CommandAPDU.parse(bytes.fromhex(hex_))


def test_encoding_picks_extended_only_when_needed() -> None:
    assert CommandAPDU(0, 0xB0, 0, 0, le=256).to_bytes().hex() == "00b0000000"
    assert CommandAPDU(0, 0xB0, 0, 0, le=257).to_bytes().hex() == "00b00000000101"
    assert CommandAPDU(0, 0xD6, 0, 0, b"\x01" * 300).to_bytes()[4:7] == b"\x00\x01\x2c"
    with pytest.raises(MalformedApdu):
        CommandAPDU(0, 0xB0, 0, 0, le=0).to_bytes()


def test_response_and_hex_edges() -> None:
    r = ResponseAPDU.parse(bytes.fromhex("01029000"))
    assert (r.data, r.sw, r.sw1, r.sw2) == (b"\x01\x02", 0x9000, 0x90, 0x00)
    with pytest.raises(MalformedApdu):
        ResponseAPDU.parse(b"\x90")
    assert from_hex("00 a4:04 00") == bytes.fromhex("00A40400")
    with pytest.raises(MalformedApdu, match="not hexadecimal"):
        from_hex("00G4")
