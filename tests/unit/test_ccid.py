"""CCID message codec (docs/serial.md §2.2.3, §2.2.4)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from protocols import ccid
from protocols.errors import MalformedFrame

H = bytes.fromhex


def test_power_on_vector():
    assert ccid.IccPowerOn(0, 0).encode() == H("62 00 00 00 00 00 00 00 00 00")
    assert ccid.IccPowerOn(1, 7, 1).encode() == H("62 00 00 00 00 01 07 01 00 00")


@pytest.mark.parametrize("msg", [
    ccid.IccPowerOn(1, 3, 2),
    ccid.IccPowerOff(0, 4),
    ccid.GetSlotStatus(1, 255),
    ccid.XfrBlock(0, 9, H("00 A4 00 00 02 3F 00"), bwi=4, level=0x0102),
    ccid.GetParameters(0, 1),
    ccid.ResetParameters(1, 2),
    ccid.SetParameters(0, 5, 1, ccid.T1Params(0x13, 0x11, 0, 0x45, 0, 0xFE, 0).encode()),
    ccid.Escape(0, 6, H("01 01 01")),
    ccid.DataBlock(0, 9, 0x00, 0x00, 0, H("3B 6D 00 00")),
    ccid.DataBlock(1, 9, 0x42, ccid.ERR_ICC_MUTE),
    ccid.SlotStatus(1, 3, 0x01, 0, 0),
    ccid.Parameters(0, 5, 0, 0, 0, ccid.T0Params(0x18).encode()),
    ccid.EscapeReply(0, 1, 0, 0, b"GemCoreSIMPro"),
])
def test_round_trip(msg: ccid.Message):
    raw = msg.encode()
    assert ccid.message_length(raw[:5]) == len(raw)
    assert ccid.decode(raw) == msg


def test_header_layout():
    raw = ccid.XfrBlock(1, 0x22, b"\xAA\xBB", bwi=3, level=0x0504).encode()
    assert raw == H("6F 02 00 00 00 01 22 03 04 05 AA BB")
    reply = ccid.DataBlock(1, 0x22, 0x41, ccid.ERR_ICC_MUTE)
    assert reply.failed and reply.icc_status == ccid.ICC_INACTIVE
    assert ccid.decode(H("73 00 00 00 00 00 01 00 00 00")) == ccid.Unsupported(0, 1, 0x73)
    assert ccid.REPLY_TYPE[0x73] == 0x84


def test_bad_lengths():
    with pytest.raises(MalformedFrame):
        ccid.decode(H("62 01 00 00 00 00 00 00 00 00"))
    with pytest.raises(MalformedFrame):
        ccid.decode(H("62 00 00"))


def test_parameter_structures():
    p0 = ccid.T0Params.decode(H("18 00 00 0A 00"))
    assert p0 == ccid.T0Params(0x18) and p0.encode() == H("18 00 00 0A 00")
    p1 = ccid.T1Params.decode(H("13 11 00 45 00 FE 00"))
    assert p1.crc and p1.ifsc == 0xFE
    assert ccid.decode_params(1, p1.encode()) == p1
    with pytest.raises(MalformedFrame):
        ccid.decode_params(0, p1.encode())
    with pytest.raises(MalformedFrame):
        ccid.decode_params(2, b"")


def test_slot_change_bits():
    sc = ccid.SlotChange(0b1011)   # slot 0 present+changed, slot 1 absent+changed
    assert sc.present(0) and sc.changed(0) and not sc.present(1) and sc.changed(1)


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=261), st.integers(0, 255),
       st.integers(0, 0xFFFF))
def test_xfr_round_trip(slot: int, seq: int, data: bytes, bwi: int, level: int):
    msg = ccid.XfrBlock(slot, seq, data, bwi, level)
    assert ccid.decode(msg.encode()) == msg
