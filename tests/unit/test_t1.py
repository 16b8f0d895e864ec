"""T=1 vectors and host/card machines: EDC, chaining at IFSC 32 and 254, IFS, WTX, retransmission, RESYNCH and
DEAD (docs/serial.md §1.7)."""
from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings, strategies as st

from protocols import t1
from protocols.errors import MalformedFrame, ProtocolError
from protocols.t1 import Block

H = bytes.fromhex
SELECT_MF = H("00 A4 00 00 02 3F 00")


@pytest.mark.parametrize("blk, crc, raw", [
    (Block.i(0, SELECT_MF), False, "00 00 07 00 A4 00 00 02 3F 00 9E"),
    (Block.i(0, SELECT_MF), True, "00 00 07 00 A4 00 00 02 3F 00 10 35"),
    (Block.r(1), False, "00 90 00 90"),
    (Block.r(0, t1.ERR_EDC), False, "00 81 00 81"),
    (Block.s(t1.IFS, False, b"\xFE"), False, "00 C1 01 FE 3E"),
    (Block.s(t1.IFS, True, b"\xFE"), False, "00 E1 01 FE 1E"),
    (Block.s(t1.WTX, True, b"\x02"), False, "00 E3 01 02 E0"),
    (Block.s(t1.RESYNCH), False, "00 C0 00 C0"),
    (Block.i(1, b"\x01", more=True), False, "00 60 01 01 60"),
])
def test_block_vectors(blk: Block, crc: bool, raw: str):
    assert blk.encode(crc) == H(raw)
    assert t1.decode(H(raw), crc) == blk
    assert t1.block_length(H(raw)[:3], crc) == len(H(raw))


def test_crc_is_ccid_reflected_ccitt():
    assert t1.crc16(b"") == 0xFFFF
    assert t1.crc16(b"123456789") == 0x6F91  # CRC-16/MCRF4XX check value: poly 8408 reflected, init FFFF


@pytest.mark.parametrize("raw, edc", [
    ("00 00 07 00 A4 00 00 02 3F 00 9F", True),   # bad LRC
    ("00 00 FF 00", False),                        # LEN FF
    ("00 00 02 00 02", False),                     # LEN does not match
    ("00 A0 01 00 A1", False),                     # R-block with INF
    ("00 C5 00 C5", False),                        # unknown S type
    ("00 C1 00 C1", False),                        # IFS without INF
    ("00 C1 01 FF 3F", False),                     # IFS FF
    ("00 01 00 01", False),                        # I-block with RFU bits
    ("00 90", False),                              # too short
])
def test_invalid_blocks(raw: str, edc: bool):
    with pytest.raises(t1.BlockError) as info:
        t1.decode(H(raw))
    assert info.value.edc is edc
    assert isinstance(info.value, MalformedFrame)


def echo_process(apdu: bytes) -> bytes:
    """Response = the command reversed ‖ 9000 (long commands give long, chained responses)."""
    return apdu[::-1] + H("90 00")


Fault = Callable[[bytes], bytes | None]


def run(host: t1.T1Host, card: t1.T1Card, first: bytes, fault: Fault = lambda b: b,
        trace: list[str] | None = None, wtx: list[int] | None = None) -> bytes:
    out = first
    for _ in range(500):
        if trace is not None:
            trace.append(out.hex(" "))
        to_card = fault(out)
        reply = card.receive(to_card) if to_card is not None else None
        if reply is not None:
            reply = fault(reply)
        step = host.receive(reply)
        if wtx is not None:
            wtx.append(step.wtx)
        if step.done:
            assert step.response is not None
            return step.response
        assert step.send is not None
        out = step.send
    raise AssertionError("exchange did not end")


def pair(ifsc: int = 254, ifsd: int = 32, crc: bool = False, wtx: int = 0) -> tuple[t1.T1Host, t1.T1Card]:
    return t1.T1Host(ifsc=ifsc, crc=crc), t1.T1Card(echo_process, ifsc=ifsc, ifsd=ifsd, crc=crc, wtx=wtx)


def test_simple_exchange_and_sequence_numbers() -> None:
    host, card = pair()
    trace: list[str] = []
    assert run(host, card, host.begin(SELECT_MF), trace=trace) == SELECT_MF[::-1] + H("90 00")
    assert trace == ["00 00 07 00 a4 00 00 02 3f 00 9e"]
    assert run(host, card, host.begin(SELECT_MF)) == SELECT_MF[::-1] + H("90 00")
    assert host.ns == 0 and host.nr == 0 and card.ns == 1   # two I-blocks each way; card's toggle pending


@pytest.mark.parametrize("ifsc, ifsd", [(32, 32), (254, 254), (32, 254), (254, 32)])
@pytest.mark.parametrize("size", [1, 31, 32, 33, 64, 254, 255, 600])
def test_chaining_both_ways(ifsc: int, ifsd: int, size: int):
    host, card = pair(ifsc=ifsc, ifsd=ifsd)
    apdu = bytes(i & 0xFF for i in range(size))
    trace: list[str] = []
    assert run(host, card, host.begin(apdu), trace=trace) == apdu[::-1] + H("90 00")
    blocks_out = -(-size // ifsc)
    blocks_in = -(-(size + 2) // ifsd)
    assert len(trace) == blocks_out + blocks_in - 1   # our chained I-blocks + one R per chained card block


def test_ifs_negotiation() -> None:
    host, card = pair(ifsd=32)
    trace: list[str] = []
    assert run(host, card, host.begin_ifs(254), trace=trace) == b""
    assert trace == ["00 c1 01 fe 3e"] and host.ifsd == 254 and card.ifsd == 254
    apdu = bytes(200)
    assert run(host, card, host.begin(apdu)) == apdu + H("90 00")


def test_card_requests_ifs_and_wtx() -> None:
    host, card = pair(wtx=3)
    wtx: list[int] = []
    assert run(host, card, host.begin(SELECT_MF), wtx=wtx) == SELECT_MF[::-1] + H("90 00")
    assert wtx == [3, 1]
    host2 = t1.T1Host(ifsc=254)
    host2.begin(bytes(300))
    step = host2.receive(Block.s(t1.IFS, False, b"\x20").encode())
    assert step.send == H("00 E1 01 20 C0") and host2.ifsc == 32


def test_edc_error_gets_r_block_and_retransmission() -> None:
    host, card = pair()
    corrupt_next = [True]

    def fault(b: bytes) -> bytes:
        if corrupt_next[0] and b[1] == 0x00 and len(b) > 5 and b[3] == 0:  # the card's response I-block
            corrupt_next[0] = False
            return b[:-1] + bytes([b[-1] ^ 1])
        return b
    trace: list[str] = []
    apdu = H("80 CA 00 00 00")
    assert run(host, card, host.begin(apdu), fault, trace) == apdu[::-1] + H("90 00")
    assert trace[1] == "00 81 00 81"   # R(N(R)=0, EDC error)
    assert host.stats["retransmits"] == 1


def test_lost_block_then_recovery():
    host, card = pair()
    lost = [0]

    def fault(b: bytes) -> bytes | None:
        if lost[0] < 2:
            lost[0] += 1
            return None
        return b
    assert run(host, card, host.begin(SELECT_MF), fault) == SELECT_MF[::-1] + H("90 00")


def test_garbage_card_gives_r_twice_then_resynch_thrice_then_dead():
    """§1.7.6 observed live with libccid: 00 82 00 82 twice, 00 C0 00 C0 three times, then DEAD."""
    host = t1.T1Host()
    sent = [host.begin(SELECT_MF).hex(" ")]
    with pytest.raises(ProtocolError, match="DEAD"):
        for _ in range(10):
            sent.append(host.receive(H("6A 82")).send.hex(" "))
    assert sent[1:] == ["00 82 00 82"] * 2 + ["00 c0 00 c0"] * 3
    with pytest.raises(ProtocolError, match="DEAD"):
        host.begin(SELECT_MF)
    host.reset()
    assert host.begin(SELECT_MF) == Block.i(0, SELECT_MF).encode()


def test_resynch_restarts_the_command():
    host, card = pair()
    run(host, card, host.begin(SELECT_MF))
    card.reset()  # the card lost its state (e.g. glitch): sequence numbers disagree now
    card.ns = 1
    assert run(host, card, host.begin(SELECT_MF)) == SELECT_MF[::-1] + H("90 00")


def test_card_answers_duplicate_and_unknown_blocks():
    card = t1.T1Card(echo_process)
    first = card.receive(Block.i(0, SELECT_MF).encode())
    assert card.receive(Block.i(0, SELECT_MF).encode()) == first       # repeat: same answer, no re-execution
    assert card.receive(H("00 00 07 00 A4 00 00 02 3F 00 9F")) == H("00 91 00 91")   # EDC error: R(N(R)=1)
    card2 = t1.T1Card(echo_process)
    assert card2.receive(H("00 C0 00 C0")) == H("00 E0 00 E0")
    assert card2.receive(H("00 C2 00 C2")) == H("00 E2 00 E2")


def lossy(seed: int, rate: float) -> Fault:
    rnd = random.Random(seed)

    def fault(b: bytes) -> bytes | None:
        if rnd.random() < rate:
            kind = rnd.randrange(3)
            if kind == 0:
                return None
            i = rnd.randrange(len(b))
            if kind == 1:
                return b[:i] + bytes([b[i] ^ rnd.randrange(1, 256)]) + b[i + 1:]
            return b[:i] + b[i + 1:]
        return b
    return fault


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([0.05, 0.2, 0.5]), st.booleans(),
       st.lists(st.integers(1, 400), min_size=1, max_size=6))
def test_lossy_channel_never_returns_wrong_data(seed: int, rate: float, crc: bool, sizes: list[int]):
    host, card = pair(ifsc=32, ifsd=32, crc=crc)
    fault = lossy(seed, rate)
    for n in sizes:
        apdu = bytes((seed + i) & 0xFF for i in range(n))
        try:
            resp = run(host, card, host.begin(apdu), fault)
        except ProtocolError:
            host.reset()
            card.reset()
            continue
        assert resp == apdu[::-1] + H("90 00")


def test_low_error_rate_always_recovers():
    host, card = pair(ifsc=32, ifsd=32)
    fault = lossy(1234, 0.03)
    for n in range(1, 300, 7):
        apdu = bytes(range(n & 0xFF)) * (n // 256 + 1)
        assert run(host, card, host.begin(apdu), fault) == apdu[::-1] + H("90 00")
    assert host.stats["retransmits"] > 0
