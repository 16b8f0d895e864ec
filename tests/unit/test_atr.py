"""ATR parse/build, TCK, convention and Fi/Di/etu vectors (docs/serial.md §1.2–§1.4)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from protocols import atr
from protocols.errors import MalformedFrame

H = bytes.fromhex
PSAM = H("3B 6D 00 00 80 31 80 65 B0 89 40 01 F2 83 00 90 00")
SYNTH_T1 = H("3B 93 13 81 31 FE 45 53 53 43 C8")
SSCARD_T0 = H("3B6D0000") + H("00814E43238697159900BF7C7A")


def test_psam_atr_from_pcsc_tools():
    a = atr.parse(PSAM)
    assert a.convention is atr.Convention.DIRECT
    assert a.protocols == (0,) and a.default_protocol == 0
    assert a.tck is None
    assert a.historical == H("80 31 80 65 B0 89 40 01 F2 83 00 90 00")
    g1 = a.groups[0]
    assert (g1.ta, g1.tb, g1.tc, g1.td) == (None, 0x00, 0x00, None)
    assert a.fidi == 0x11 and a.extra_guard_time == 0 and a.wi == 10
    assert not a.specific_mode


def test_synthetic_t1_vector():
    a = atr.parse(SYNTH_T1)
    assert a.protocols == (1,)
    assert a.fidi == 0x13 and atr.fi_of(a.fidi) == 372 and atr.di_of(a.fidi) == 4
    assert a.ifsc == 254 and a.bwi == 4 and a.cwi == 5 and not a.crc
    assert a.historical == b"SSC" and a.tck == 0xC8
    assert atr.tck(SYNTH_T1[1:-1]) == 0xC8


def test_build_reproduces_vectors():
    assert atr.make(atr.Offer(protocols=(1,), fidi=0x13, ifsc=0xFE, bwi_cwi=0x45), b"SSC") == SYNTH_T1
    assert atr.make(atr.Offer(tb1=0, tc1=0), PSAM[4:]) == PSAM
    assert atr.make(atr.Offer(tb1=0, tc1=0), SSCARD_T0[4:]) == SSCARD_T0


@pytest.mark.parametrize("offer", [
    atr.Offer(protocols=(0, 1), fidi=0x18, tb1=0, tc1=0),
    atr.Offer(protocols=(1, 0), fidi=0x96, crc=True, ifsc=0x80, bwi_cwi=0x55),
    atr.Offer(protocols=(1,), specific=True, fidi=0x13),
    atr.Offer(protocols=(0,), wi=0x20, fidi=0x13),
    atr.Offer(protocols=(0,), specific=True),
])
def test_offer_round_trip(offer: atr.Offer):
    raw = atr.make(offer, b"\x80\x01\x02")
    a = atr.parse(raw)
    assert a.protocols == offer.protocols
    assert a.fidi == (offer.fidi or 0x11)
    assert a.specific_mode is offer.specific
    if offer.specific:
        assert a.specific_protocol == offer.protocols[0]
    if 1 in offer.protocols:
        assert (a.ifsc, a.bwi_cwi, a.crc) == (offer.ifsc, offer.bwi_cwi, offer.crc)
        assert a.tck is not None
    else:
        assert a.tck is None
    if offer.wi is not None:
        assert a.wi == offer.wi


def test_inverse_convention():
    assert atr.INVERSE_LUT[0x3F] == 0x03 and atr.INVERSE_LUT[0x3B] == 0x23
    assert atr.inverse_convert(atr.inverse_convert(bytes(range(256)))) == bytes(range(256))
    inverse = b"\x3F" + SYNTH_T1[1:]   # same content, inverse convention
    line = atr.inverse_convert(inverse)  # what a direct-convention UART reads
    assert line[0] == 0x03
    a = atr.parse(line)
    assert a.convention is atr.Convention.INVERSE and a.raw == inverse and a.protocols == (1,)


def test_truncated_and_bad_atrs():
    for n in range(1, len(SYNTH_T1)):
        with pytest.raises(MalformedFrame):
            atr.parse(SYNTH_T1[:n])
    with pytest.raises(MalformedFrame, match="TCK"):
        atr.parse(SYNTH_T1[:-1] + b"\x00")
    with pytest.raises(MalformedFrame, match="TS"):
        atr.parse(b"\x3A" + SYNTH_T1[1:])
    with pytest.raises(MalformedFrame, match="after the ATR"):
        atr.parse(PSAM + b"\x00")
    assert atr.parse(PSAM + b"\x00\x01", strict=False).raw == PSAM
    with pytest.raises(MalformedFrame, match="IFSC"):
        atr.parse(atr.build([atr.Group(t=1), atr.Group(t=1), atr.Group(ta=0xFF)], b""))
    with pytest.raises(MalformedFrame):
        atr.parse(b"")


def test_atr_length_incremental():
    for raw in (PSAM, SYNTH_T1, SSCARD_T0):
        lengths = [atr.atr_length(raw[:i]) for i in range(len(raw) + 1)]
        known = [x for x in lengths if x is not None]
        assert known and all(x == len(raw) for x in known)
    assert atr.atr_length(b"\x3B") is None
    assert atr.atr_length(H("3B 93 13")) is None  # TD1 not yet read


def test_fi_di_tables_and_rates():
    assert atr.fi_of(0x11) == 372 and atr.fi_of(0x96) == 512 and atr.di_of(0x96) == 32
    with pytest.raises(ValueError):
        atr.fi_of(0x71)
    with pytest.raises(ValueError):
        atr.di_of(0x10)
    f = 3_571_200
    assert round(atr.bit_rate(0x11, f)) == 9600
    assert round(atr.bit_rate(0x13, f)) == 38400
    assert round(atr.bit_rate(0x18, f)) == 115200
    assert round(atr.bit_rate(0x96, f)) == 223200
    assert round(atr.bit_rate(0x11, 4_000_000)) == 10753
    assert round(atr.bit_rate(0x96, 4_000_000)) == 250000
    assert atr.etu_seconds(0x11, f) == pytest.approx(1 / 9600)


def test_timing_units():
    assert atr.wt_etu(10, 0x11) == 9600
    assert atr.bwt_seconds(4, 0x13, 3_571_200) == pytest.approx(1.600, abs=0.001)
    assert atr.cwt_etu(13) == 8203 and atr.cwt_etu(5) == 43
    assert atr.character_etu(0) == 12 and atr.character_etu(1, 255) == 11 and atr.character_etu(0, 255) == 12
    assert atr.character_etu(0, 2) == 14


groups_st = st.lists(st.builds(
    atr.Group,
    ta=st.none() | st.sampled_from([0x11, 0x13, 0x18, 0x96, 0x95]),
    tb=st.none() | st.integers(0, 255),
    tc=st.none() | st.integers(0, 254),
    t=st.none() | st.sampled_from([0, 1, 15]),
), min_size=1, max_size=4)


@given(groups_st, st.binary(max_size=15))
def test_build_parse_round_trip(groups: list[atr.Group], hist: bytes):
    try:
        raw = atr.build(groups, hist)
    except ValueError:
        return  # longer than 33 bytes
    a = atr.parse(raw)
    assert a.raw == raw and a.historical == hist
    assert atr.atr_length(raw) == len(raw)
    assert (a.tck is not None) == any((g.td or 0) & 0x0F for g in a.groups)
