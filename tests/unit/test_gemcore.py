"""GemCore serial framing: 03 06 … LRC, NAK 03 15 16, asynchronous bytes, echo, resynchronisation
(docs/serial.md §2.2.1, §2.2.4)."""
from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from protocols import ccid, gemcore
from protocols.gemcore import BadFrame, Frame, Nak, SlotChangeNotice, TimeRequest

H = bytes.fromhex
POWER_ON = H("03 06 62 00 00 00 00 00 00 00 00 00 67")


def test_vectors():
    assert gemcore.encode(ccid.IccPowerOn(0, 0).encode()) == POWER_ON
    assert gemcore.NAK_FRAME == H("03 15 16")
    d = gemcore.Decoder(from_reader=False)
    assert d.feed(POWER_ON + gemcore.NAK_FRAME) == [Frame(POWER_ON[2:-1]), Nak()]
    assert not d.pending


def test_byte_by_byte():
    d = gemcore.Decoder(from_reader=False)
    events = []
    for b in POWER_ON:
        events += d.feed(bytes([b]))
    assert events == [Frame(POWER_ON[2:-1])]


def test_wrong_lrc_is_reported_once_and_next_frame_found():
    d = gemcore.Decoder(from_reader=False)
    bad = POWER_ON[:-1] + b"\x00"
    events = d.feed(bad + POWER_ON)
    assert events == [BadFrame("wrong LRC"), Frame(POWER_ON[2:-1])]


def test_reader_async_bytes():
    d = gemcore.Decoder(from_reader=True)
    reply = gemcore.encode(ccid.SlotStatus(0, 0).encode())
    assert d.feed(H("50 03 81 FF") + reply) == [SlotChangeNotice(3), TimeRequest(0x81), TimeRequest(0xFF),
                                                 Frame(reply[2:-1])]
    host_side = gemcore.Decoder(from_reader=False)
    assert host_side.feed(H("50 03") + POWER_ON) == [BadFrame("stray byte 50"), Frame(POWER_ON[2:-1])]


def test_echo_dropped():
    d = gemcore.Decoder(from_reader=True)
    reply = gemcore.encode(ccid.DataBlock(0, 0, data=H("3B 00")).encode())
    d.expect_echo(POWER_ON)
    assert d.feed(POWER_ON + reply) == [Frame(reply[2:-1])]


def test_impossible_length_and_truncation():
    d = gemcore.Decoder(from_reader=False)
    assert d.feed(H("03 06 6F FF FF 00 00")) == [BadFrame("impossible length 65535")]
    d = gemcore.Decoder(from_reader=False)
    assert d.feed(POWER_ON[:8]) == [] and d.pending
    assert d.flush() == [BadFrame("truncated frame")]
    assert not d.pending
    assert d.feed(POWER_ON) == [Frame(POWER_ON[2:-1])]


def test_bad_nak_and_control():
    d = gemcore.Decoder(from_reader=False)
    assert d.feed(H("03 15 17")) == [BadFrame("NAK with LRC 17")]
    d = gemcore.Decoder(from_reader=False)
    assert d.feed(H("03 07") + POWER_ON) == [BadFrame("control byte 07"), Frame(POWER_ON[2:-1])]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.binary(max_size=60), min_size=1, max_size=5), st.binary(max_size=40), st.integers(0, 2**32))
def test_good_frames_survive_leading_garbage_and_any_split(payloads: list[bytes], garbage: bytes, seed: int):
    msgs = [ccid.XfrBlock(0, i, p).encode() for i, p in enumerate(payloads)]
    stream = garbage + b"".join(gemcore.encode(m) for m in msgs)
    rnd = random.Random(seed)
    d = gemcore.Decoder(from_reader=False)
    events: list[gemcore.Event] = []
    i = 0
    while i < len(stream):
        n = rnd.randint(1, 16)
        events += d.feed(stream[i:i + n])
        i += n
    events += d.flush()
    frames = [e.message for e in events if isinstance(e, Frame)]
    # garbage can swallow at most the frames that overlap a false SYNC candidate; the last frames always come through
    assert frames[-1] == msgs[-1]
    assert all(f in msgs for f in frames)
