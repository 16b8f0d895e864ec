"""T=0 vectors: APDU→TPDU cases, procedure bytes (NULL, ACK, INS⊕FF, SW1), 61xx/6Cxx, and the card side
(docs/serial.md §1.6)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from protocols import t0
from protocols.errors import MalformedApdu, ProtocolError

H = bytes.fromhex


@pytest.mark.parametrize("apdu, tpdu", [
    ("00 A4 00 00", "00 A4 00 00 00"),                          # case 1: P3 = 00
    ("00 84 00 00 08", "00 84 00 00 08"),                       # case 2
    ("00 B0 96 00 00", "00 B0 96 00 00"),                       # case 2, Le 256
    ("00 A4 00 00 02 3F 00", "00 A4 00 00 02 3F 00"),           # case 3
    ("00 A4 04 00 02 DF 01 00", "00 A4 04 00 02 DF 01"),        # case 4: Le dropped
])
def test_apdu_to_tpdu(apdu: str, tpdu: str):
    assert t0.apdu_to_tpdu(H(apdu)) == H(tpdu)


def test_apdu_to_tpdu_refuses():
    with pytest.raises(MalformedApdu):
        t0.apdu_to_tpdu(H("00 B0 00 00 00 01 00"))    # extended Le
    with pytest.raises(MalformedApdu):
        t0.apdu_to_tpdu(H("00 60 00 00"))             # INS 6X
    with pytest.raises(MalformedApdu):
        t0.apdu_to_tpdu(H("00 A4"))


def run_reader(tpdu: bytes, card_bytes: list[bytes]) -> tuple[list[bytes], t0.T0ReaderStep]:
    """Feed the card's bursts one after the other; collect what the reader sends after each."""
    r = t0.T0Reader(tpdu)
    sent = [r.start()]
    step = t0.T0ReaderStep()
    for chunk in card_bytes:
        step = r.feed(chunk)
        sent.append(step.send)
    return sent, step


def test_reader_nulls_then_ack_then_data():
    sent, step = run_reader(H("00 84 00 00 04"), [H("60 60"), H("84 11 22 33 44 90 00")])
    assert step.done and step.response == H("11 22 33 44 90 00")
    assert sent == [H("00 84 00 00 04"), b"", b""]


def test_null_is_not_sw1():
    """§1.6.5: pySim took 60 for SW1. Here a NULL only restarts WT."""
    r = t0.T0Reader(H("00 A4 00 00 02 3F 00"))
    step = r.feed(H("60"))
    assert not step.done and step.nulls == 1 and step.send == b""
    step = r.feed(H("A4"))
    assert step.send == H("3F 00")
    step = r.feed(H("60 61 0A"))
    assert step.done and step.response == H("61 0A")


def test_reader_single_byte_acks():
    r = t0.T0Reader(H("00 D6 00 00 03 AA BB CC"))
    assert r.feed(H("29")).send == H("AA")          # D6 ^ FF = 29: one byte
    assert r.feed(H("29")).send == H("BB")
    assert r.feed(H("D6")).send == H("CC")          # then all the rest
    step = r.feed(H("90 00"))
    assert step.done and step.response == H("90 00")
    r = t0.T0Reader(H("00 B0 00 00 02"))
    assert r.feed(H("4F 01")).send == b""            # B0 ^ FF = 4F, one byte
    step = r.feed(H("4F 02 90 00"))
    assert step.done and step.response == H("01 02 90 00")


def test_reader_case1_and_status_only():
    sent, step = run_reader(H("00 A4 00 00 00"), [H("6A 82")])
    assert step.done and step.response == H("6A 82")
    sent, step = run_reader(H("00 B0 00 00 10"), [H("6C 08")])
    assert step.response == H("6C 08")


def test_reader_protocol_errors():
    r = t0.T0Reader(H("00 A4 00 00 02 3F 00"))
    with pytest.raises(ProtocolError, match="procedure byte"):
        r.feed(H("12"))
    r = t0.T0Reader(H("00 A4 00 00 02 3F 00"))
    r.feed(H("A4"))
    with pytest.raises(ProtocolError, match="no data is left"):
        r.feed(H("A4"))
    r = t0.T0Reader(H("00 B0 00 00 01"))
    with pytest.raises(ProtocolError, match="after the status"):
        r.feed(H("B0 01 90 00 00"))
    with pytest.raises(MalformedApdu):
        t0.T0Reader(H("00 A4 00 00 03 3F 00"))


# --- card side -------------------------------------------------------------------------------------------------
class EchoDevice:
    """A tiny APDU device: READ BINARY returns P2 bytes (0 = 256); SELECT answers the data reversed ‖ 9000;
    CREATE (E0) answers 300 bytes; GET CHALLENGE counts how often it ran; anything else 9000."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def __call__(self, apdu: bytes) -> bytes:
        self.calls.append(apdu)
        ins = apdu[1]
        if ins == 0xB0:
            n = apdu[3] or 256
            return bytes(i & 0xFF for i in range(n)) + H("90 00")
        if ins == 0xA4:
            return apdu[5:5 + apdu[4]][::-1] + H("90 00") if len(apdu) > 4 else H("6A 86")
        if ins == 0x84:
            return bytes([len(self.calls)]) * 8 + H("90 00")
        if ins == 0x20:
            return H("63 C2")
        if ins == 0xE0:
            return bytes(i & 0xFF for i in range(300)) + H("62 83")
        return H("90 00")


def test_card_outgoing_exact_le():
    card = t0.T0Card(EchoDevice())
    assert card.feed(H("00 B0 00 04 04")) == H("B0 00 01 02 03 90 00")


def test_card_wrong_le_is_6c_without_reexecution():
    dev = EchoDevice()
    card = t0.T0Card(dev)
    assert card.feed(H("00 84 00 00 10")) == H("6C 08")
    assert card.feed(H("00 84 00 00 08")) == H("84") + bytes([1]) * 8 + H("90 00")
    assert len(dev.calls) == 1          # the kept response was served, GET CHALLENGE ran once


def test_card_incoming_then_61_and_get_response():
    card = t0.T0Card(EchoDevice())
    assert card.feed(H("00 A4 00 00 02")) == H("A4")
    assert card.feed(H("3F 00")) == H("61 02")
    assert card.feed(H("00 C0 00 00 01")) == H("C0 00 61 01")
    assert card.feed(H("00 C0 00 00 05")) == H("6C 01")
    assert card.feed(H("00 C0 00 00 01")) == H("C0 3F 90 00")


def test_card_status_only_and_case1():
    card = t0.T0Card(EchoDevice())
    assert card.feed(H("00 20 00 00 03")) == H("20")
    assert card.feed(H("12 34 56")) == H("63 C2")
    assert card.feed(H("00 A4 00 00 00")) == H("6A 86")       # case 1: processed as a 4-byte APDU
    assert card.feed(H("00 6A 00 00 00")) == H("6D 00")       # INS 6X refused


def test_card_nulls_and_single_byte_acks():
    opts = t0.T0CardOptions(nulls=2, single_byte_acks=True)
    card = t0.T0Card(EchoDevice(), opts)
    assert card.feed(H("00 A4 00 00 02")) == H("60 60 5B")
    assert card.feed(H("3F")) == H("5B")
    assert card.feed(H("00")) == H("60 60 61 02")
    assert card.feed(H("00 C0 00 00 02")) == H("60 60 3F 00 3F 3F 90 00")


def exchange(card: t0.T0Card, tpdu: bytes) -> bytes:
    """Drive a TPDU through reader and card machines, as the reader firmware does."""
    r = t0.T0Reader(tpdu)
    out = card.feed(r.start())
    for _ in range(1000):
        step = r.feed(out)
        if step.done:
            return step.response
        out = card.feed(step.send)
    raise AssertionError("no end")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3), st.booleans(), st.integers(1, 255), st.binary(min_size=1, max_size=255))
def test_reader_card_round_trip(nulls: int, single: bool, p2: int, data: bytes):
    card = t0.T0Card(EchoDevice(), t0.T0CardOptions(nulls=nulls, single_byte_acks=single))
    read = t0.transceive(bytes([0, 0xB0, 0, p2, 0]), lambda tp: exchange(card, tp))
    assert read == bytes(i & 0xFF for i in range(p2)) + H("90 00")     # via 6Cxx
    sel = t0.transceive(bytes([0, 0xA4, 0, 0, len(data)]) + data + b"\x00", lambda tp: exchange(card, tp))
    assert sel == data[::-1] + H("90 00")                                # via 61xx


def test_transceive_long_response_chains_61xx() -> None:
    card = t0.T0Card(EchoDevice())
    tpdus: list[bytes] = []

    def send(tp: bytes) -> bytes:
        tpdus.append(tp)
        return exchange(card, tp)
    assert t0.transceive(H("00 B0 00 00 00"), send) == bytes(range(256)) + H("90 00")
    # 300 bytes after a case 4 command: 61 00, GET RESPONSE 256 -> 61 2C, GET RESPONSE 44 -> data ‖ 6283
    tpdus.clear()
    resp = t0.transceive(H("80 E0 00 00 01 AA 00"), send, get_response_cla=None)
    assert resp == bytes(i & 0xFF for i in range(300)) + H("62 83")
    assert tpdus == [H("80 E0 00 00 01 AA"), H("80 C0 00 00 00"), H("80 C0 00 00 2C")]
