"""Fault injection on the serial line and on the T=1 card line: thousands of APDUs at a
byte error rate of 1e-3 give zero wrong results; damaged frames are NAKed and resent; T=1 recovers; when recovery
is impossible the host gets a typed error, never wrong data."""
from __future__ import annotations

import random

import pytest

from firmware_sim.iso7816_card import LinkProfile
from hardware.ccid_serial import CcidSerialReader, PySerialPipe
from hardware.line_faults import ByteFaults, FaultyPipe
from host.engine import ApduEngine
from protocols.errors import ProtocolError, ReaderError, ReaderTimeout
from tests.serial.conftest import BenchFactory, ScriptDevice

H = bytes.fromhex
RATE = 1e-3                          # faults per byte, all kinds together
CORRUPT, DROP = 0.7 * RATE, 0.3 * RATE


def workload(rnd: random.Random, n: int) -> list[bytes]:
    """A mix like a counter session: SELECT, READ RECORD (exact Le and 00), GET CHALLENGE, VERIFY, and
    case-4 commands of 1..255 bytes (T=1 chaining at IFSC 32). A counter in the data makes commands unique."""
    out = []
    for i in range(n):
        k = rnd.randrange(6)
        if k == 0:
            name = H("7378312E73682EC9E7BBE1B1A3") + i.to_bytes(2, "big")
            out.append(H("00A40400") + bytes([len(name)]) + name + b"\x00")
        elif k == 1:
            rec = rnd.randrange(1, 40)
            out.append(bytes([0, 0xB2, rec, 0x04, len(ScriptDevice.record(rec)) if rnd.random() < .5 else 0]))
        elif k == 2:
            out.append(bytes([0, 0x84, i >> 8 & 0xFF, i & 0xFF, rnd.choice([4, 8, 16])]))
        elif k == 3:
            out.append(H("0020000003") + (H("123456") if rnd.random() < .5 else i.to_bytes(3, "big")))
        else:
            size = rnd.randrange(3, 256)
            body = i.to_bytes(2, "big") + bytes(rnd.randrange(256) for _ in range(size - 2))
            out.append(H("80E00000") + bytes([size]) + body + b"\x00")
    return out


def test_thousands_of_apdus_at_byte_error_rate_1e3(serial_bench: BenchFactory):
    card_dev, psam_dev = ScriptDevice(), ScriptDevice()
    bench = serial_bench(card_dev, psam_dev, card_profile=LinkProfile.t1(0x96, ifsc=32),
                         psam_profile=LinkProfile.t0_only(0x96), idle_timeout=0.02)
    # the card line of the T=1 slot: corrupted and lost bytes in both directions
    to_card, from_card = ByteFaults(11, corrupt=CORRUPT, drop=DROP), ByteFaults(12, corrupt=CORRUPT, drop=DROP)
    bench.firmware.set_line_filters(0, to_card, from_card)
    # the serial line: corruption, loss, and writes split with pauses
    pipe = FaultyPipe(PySerialPipe(bench.url), seed=5, corrupt=CORRUPT, drop=DROP, split=0.02, max_delay=0.002)
    rnd = random.Random(2024)
    apdus = workload(rnd, 2400)
    wrong = 0
    with CcidSerialReader(bench.url, pipe=pipe, gap_timeout=0.02, response_timeout=0.5) as reader:
        engines = [ApduEngine(reader.card), ApduEngine(reader.psam)]  # type: ignore[arg-type]  # both slots exist on this reader
        for e in engines:
            e.connect()
        assert reader.card.protocol == 1 and reader.psam.protocol == 0   # type: ignore[union-attr]  # both slots exist on this reader
        for i, apdu in enumerate(apdus):
            rsp = engines[i % 2].transmit(apdu)
            wrong += rsp.data + rsp.sw.to_bytes(2, "big") != ScriptDevice.final(apdu)
        link, t1 = reader.link.stats, reader.card._t1
        assert t1 is not None
        t1_stats = dict(t1.stats)
    faults = pipe.totals()
    assert wrong == 0
    # the faults really happened, and each layer recovered from its share
    assert faults["corrupted"] > 20 and faults["dropped"] > 10
    assert to_card.counts.corrupted + from_card.counts.corrupted > 5
    assert link["naks_sent"] > 0 and bench.firmware.stats["naks_sent"] > 0 and link["resends"] > 0
    assert t1_stats["retransmits"] > 0
    # no command ran twice, except a T=1 command restarted after a resynchronisation (ISO 7816-3 rule 6)
    assert not any(len(ScriptDevice.answer(a)) == 2 and ScriptDevice.answer(a)[0] == 0x6C for a in apdus)
    extra = sum(card_dev.executions.values()) + sum(psam_dev.executions.values()) - len(apdus)
    assert 0 <= extra <= t1_stats["resynchs"]


def test_t1_card_line_that_loses_everything_gives_a_typed_error_then_recovers(serial_bench: BenchFactory):
    bench = serial_bench(card_profile=LinkProfile.t1())
    with CcidSerialReader(bench.url) as reader:
        engine = ApduEngine(reader.card)
        engine.connect()
        bench.firmware.set_line_filters(0, lambda b: b"", None)       # the card hears nothing
        with pytest.raises(ProtocolError, match="DEAD"):
            engine.transmit(H("0084000008"))
        with pytest.raises(ProtocolError, match="DEAD"):              # stays dead until a reset
            engine.transmit(H("0084000008"))
        bench.firmware.set_line_filters(0, None, None)
        engine.connect()
        assert engine.transmit(H("0084000008")).ok


def test_t1_garbage_from_the_card_never_becomes_data(serial_bench: BenchFactory):
    bench = serial_bench(card_profile=LinkProfile.t1())
    with CcidSerialReader(bench.url) as reader:
        engine = ApduEngine(reader.card)
        engine.connect()
        rnd = random.Random(3)
        bench.firmware.set_line_filters(0, None, lambda b: bytes(rnd.randrange(256) for _ in b))
        with pytest.raises(ProtocolError):
            engine.transmit(H("00B2010400"))


def test_t0_mute_card_is_a_timeout(serial_bench: BenchFactory):
    bench = serial_bench()
    with CcidSerialReader(bench.url) as reader:
        engine = ApduEngine(reader.card)
        engine.connect()
        bench.firmware.set_line_filters(0, lambda b: b"", None)
        with pytest.raises(ReaderTimeout):
            engine.transmit(H("0084000008"))


@pytest.mark.parametrize("seed", range(3))
def test_hopeless_serial_line_gives_typed_errors_or_right_answers(serial_bench: BenchFactory, seed: int):
    bench = serial_bench(idle_timeout=0.01)
    pipe = FaultyPipe(PySerialPipe(bench.url), seed=seed, corrupt=0.05, drop=0.02)
    outcomes = {"right": 0, "error": 0}
    try:
        reader = CcidSerialReader(bench.url, pipe=pipe, gap_timeout=0.01, response_timeout=0.2)
    except ReaderError:
        return
    with reader:
        for i, apdu in enumerate(workload(random.Random(seed), 40)):
            try:
                engine = ApduEngine(reader.slots[i % 2])
                if reader.slots[i % 2].protocol is None:
                    engine.connect()
                rsp = engine.transmit(apdu)
            except ReaderError:
                outcomes["error"] += 1
                continue
            assert rsp.data + rsp.sw.to_bytes(2, "big") == ScriptDevice.final(apdu)
            outcomes["right"] += 1
    assert outcomes["right"] > 0


def test_byte_faults_are_seeded_and_counted():
    data = bytes(range(256)) * 40
    a, b = ByteFaults(9, corrupt=0.01, drop=0.01), ByteFaults(9, corrupt=0.01, drop=0.01)
    out = a(data)
    assert out == b(data) and a.counts == b.counts
    assert len(out) == len(data) - a.counts.dropped
    assert a.counts.corrupted > 0 and a.counts.dropped > 0 and a.counts.bytes == len(data)
    assert ByteFaults(1)(data) == data
