"""PPS request/response vectors and both sides' decisions (docs/serial.md §1.5)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from protocols import atr, pps
from protocols.errors import MalformedFrame, ProtocolError

H = bytes.fromhex


@pytest.mark.parametrize("req, raw", [
    (pps.PPS(0, 0x18), H("FF 10 18 F7")),
    (pps.PPS(1, 0x13), H("FF 11 13 FD")),
    (pps.PPS(0), H("FF 00 FF")),
    (pps.PPS(1), H("FF 01 FE")),
])
def test_vectors(req: pps.PPS, raw: bytes):
    assert req.encode() == raw
    assert pps.PPS.parse(raw) == req
    assert pps.pps_length(raw[:2]) == len(raw)


def test_parse_errors():
    with pytest.raises(MalformedFrame, match="check byte"):
        pps.PPS.parse(H("FF 10 18 F6"))
    with pytest.raises(MalformedFrame):
        pps.PPS.parse(H("FE 00 FE"))
    with pytest.raises(MalformedFrame):
        pps.PPS.parse(H("FF 80 7F"))
    with pytest.raises(MalformedFrame, match="length"):
        pps.PPS.parse(H("FF 10 18 F7 00"))
    assert pps.pps_length(b"") is None and pps.pps_length(b"\xFF") is None
    assert pps.pps_length(H("FF 70")) == 6


def test_check_response():
    req = pps.PPS(0, 0x18)
    assert pps.check_response(req, req.encode()).fidi == 0x18
    assert pps.check_response(req, H("FF 00 FF")).fidi == 0x11          # PPS1 left out: defaults
    with pytest.raises(ProtocolError):
        pps.check_response(req, pps.PPS(0, 0x13).encode())               # different PPS1
    with pytest.raises(ProtocolError):
        pps.check_response(req, H("FF 11 18 F6"))                         # other protocol
    with pytest.raises(ProtocolError):
        pps.check_response(pps.PPS(0), pps.PPS(0, 0x18).encode())         # longer than the request
    with pytest.raises(ProtocolError):
        pps.check_response(req, H("FF 10 18"))                           # truncated


T0_FAST = atr.parse(atr.make(atr.Offer(protocols=(0, 1), fidi=0x18), b"SSC"))
T1_SPECIFIC = atr.parse(atr.make(atr.Offer(protocols=(1,), fidi=0x13, specific=True), b"SSC"))


def test_card_response():
    assert pps.card_response(H("FF 10 18 F7"), T0_FAST) == H("FF 10 18 F7")        # echo
    assert pps.card_response(H("FF 11 13 FD"), T0_FAST) == H("FF 11 13 FD")        # T=1, slower D
    assert pps.card_response(pps.PPS(0, 0x96).encode(), T0_FAST) == H("FF 00 FF")  # unsupported speed
    assert pps.card_response(H("FF 10 18 F6"), T0_FAST) is None                    # bad PCK: silence
    assert pps.card_response(pps.PPS(2).encode(), T0_FAST) is None                 # T=2 not offered
    assert pps.card_response(H("FF 01 FE"), T1_SPECIFIC) is None                   # specific mode


def test_host_request_fastest_common_speed():
    unlimited = pps.reader_rate_check(4_000_000, 10_000_000)
    assert pps.host_request(T0_FAST, 0, unlimited) == pps.PPS(0, 0x18)
    assert pps.host_request(T0_FAST, 1, unlimited) == pps.PPS(1, 0x18)
    slow_reader = pps.reader_rate_check(4_000_000, 125_000)   # the PSAM slot of a GemCore SIM Pro
    assert pps.host_request(T0_FAST, 0, slow_reader) == pps.PPS(0, 0x14)   # 86 kbit/s, not 129 kbit/s
    nothing = pps.reader_rate_check(4_000_000, 11_000)
    assert pps.host_request(T0_FAST, 0, nothing) is None
    assert pps.host_request(T0_FAST, 1, nothing) == pps.PPS(1)
    assert pps.host_request(T1_SPECIFIC, 1, unlimited) is None
    with pytest.raises(ProtocolError):
        pps.host_request(T0_FAST, 2, unlimited)


def test_reader_rate_list():
    ok = pps.reader_rate_check(4_000_000, 500_000, rates=[10753, 43011, 129032])
    assert ok(0x11) and ok(0x13) and ok(0x18) and not ok(0x14) and not ok(0x96)
    assert pps.candidate_fidis(0x18) == [0x18, 0x14, 0x13, 0x12, 0x11]
    assert pps.candidate_fidis(0x96)[0] == 0x96 and pps.candidate_fidis(0x96)[-1] == 0x11


@given(st.integers(0, 15), st.none() | st.integers(0, 255), st.none() | st.integers(0, 255),
       st.none() | st.integers(0, 255))
def test_round_trip(t: int, p1: int | None, p2: int | None, p3: int | None):
    req = pps.PPS(t, p1, p2, p3)
    raw = req.encode()
    assert pps.PPS.parse(raw) == req and pps.pck(raw) == 0
    assert pps.check_response(req, raw) == req
