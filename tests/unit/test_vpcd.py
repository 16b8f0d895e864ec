"""protocols.vpcd: framing and request decoding (docs/peers.md §2.6)."""
from __future__ import annotations

import pytest

from protocols import vpcd
from protocols.errors import MalformedFrame


def test_encode_frame_is_big_endian_length_prefix() -> None:
    assert vpcd.encode_frame(b"\x3b\x00") == b"\x00\x02\x3b\x00"
    assert vpcd.encode_frame(b"x" * 0x1234)[:2] == b"\x12\x34"


def test_encode_frame_limits() -> None:
    assert len(vpcd.encode_frame(b"\x00" * vpcd.MAX_PAYLOAD)) == vpcd.MAX_PAYLOAD + 2
    with pytest.raises(MalformedFrame, match="65536 bytes exceeds 65535"):
        vpcd.encode_frame(b"\x00" * (vpcd.MAX_PAYLOAD + 1))


def test_encode_response_never_empty() -> None:
    assert vpcd.encode_response(b"\x90\x00") == b"\x00\x02\x90\x00"
    with pytest.raises(MalformedFrame, match="empty"):
        vpcd.encode_response(b"")


def test_encode_control_and_apdu() -> None:
    assert vpcd.encode_control(vpcd.CTRL_GET_ATR) == b"\x00\x01\x04"
    with pytest.raises(MalformedFrame, match="0x03"):
        vpcd.encode_control(3)
    assert vpcd.encode_apdu(b"\x00\xa4") == b"\x00\x02\x00\xa4"
    with pytest.raises(MalformedFrame, match="1-byte APDU"):
        vpcd.encode_apdu(b"\x00")


@pytest.mark.parametrize(
    ("code", "event"),
    [(0, vpcd.PowerOff()), (1, vpcd.PowerOn()), (2, vpcd.Reset()), (4, vpcd.GetAtr())],
)
def test_control_codes(code: int, event: vpcd.Event) -> None:
    assert vpcd.RequestDecoder().feed(vpcd.encode_control(code)) == [event]


def test_needs_reply() -> None:
    assert vpcd.needs_reply(vpcd.GetAtr())
    assert vpcd.needs_reply(vpcd.Transmit(b"\x00\x84\x00\x00\x08"))
    assert not any(vpcd.needs_reply(e) for e in (vpcd.PowerOn(), vpcd.PowerOff(), vpcd.Reset()))


def test_apdu_and_several_frames_in_one_chunk() -> None:
    stream = vpcd.encode_control(1) + vpcd.encode_control(4) + vpcd.encode_apdu(b"\x00\xa4\x00\x00\x02\xef\x05")
    assert vpcd.RequestDecoder().feed(stream) == [
        vpcd.PowerOn(),
        vpcd.GetAtr(),
        vpcd.Transmit(b"\x00\xa4\x00\x00\x02\xef\x05"),
    ]


def test_byte_by_byte_reassembly() -> None:
    apdu = bytes(range(256)) * 3  # extended-length sized payload
    stream = vpcd.encode_apdu(apdu) + vpcd.encode_control(4)
    dec = vpcd.RequestDecoder()
    events: list[vpcd.Event] = []
    for i in range(len(stream)):
        events += dec.feed(stream[i : i + 1])
    assert events == [vpcd.Transmit(apdu), vpcd.GetAtr()]


def test_split_length_header() -> None:
    """Debian's vpcd writes the length and the body separately; they may arrive apart."""
    dec = vpcd.FrameDecoder()
    assert dec.feed(b"\x00") == []
    assert dec.feed(b"\x05") == []
    assert dec.buffered == 2
    assert dec.feed(b"\x00\xb2\x07\x2c") == []
    assert dec.feed(b"\x0b\x00") == [b"\x00\xb2\x07\x2c\x0b"]
    assert dec.buffered == 1


def test_frame_decoder_returns_empty_payloads() -> None:
    """The vpcd side sees an empty response as card removal; the decoder must surface it."""
    assert vpcd.FrameDecoder().feed(b"\x00\x00\x00\x02\x90\x00") == [b"", b"\x90\x00"]


def test_unknown_control_code_is_precise_and_keeps_sync() -> None:
    dec = vpcd.RequestDecoder()
    stream = vpcd.encode_control(4) + b"\x00\x01\x07" + vpcd.encode_control(1)
    with pytest.raises(MalformedFrame, match="unknown vpcd control code 0x07"):
        dec.feed(stream)
    # The event before the bad frame and the one after it are both delivered next time.
    assert dec.feed(b"") == [vpcd.GetAtr(), vpcd.PowerOn()]


def test_zero_length_request_is_malformed() -> None:
    dec = vpcd.RequestDecoder()
    with pytest.raises(MalformedFrame, match="length 0"):
        dec.feed(b"\x00\x00")
    assert dec.feed(vpcd.encode_control(0)) == [vpcd.PowerOff()]


def test_round_trip_max_payload() -> None:
    apdu = b"\x00\xd6\x00\x00\x00\xff\xf8" + b"\xaa" * 0xFFF8
    frame = vpcd.encode_apdu(apdu)
    assert vpcd.RequestDecoder().feed(frame) == [vpcd.Transmit(apdu)]
