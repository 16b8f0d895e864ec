"""Fuzzing the link-level decoders and engines: T=1 blocks and both T=1 machines, CCID
messages, GemCore framing, the simulated CCID-serial reader firmware, the card's ISO 7816-3 engine, ATR, PPS,
T=0 and vpcd framing.

Invariants: bad input raises the module's own error (``MalformedFrame``/``BlockError``, or ``ProtocolError``
where a machine gives up) and nothing else; the card side never raises and answers well-formed bytes; a T=1
exchange over a noisy line (CRC, one damaged byte per block at most, lost blocks) delivers the right response
or gives up with ``ProtocolError`` — never wrong data, never a hang.
"""
from __future__ import annotations

from hypothesis import given, strategies as st

from firmware_sim.ccid_reader import CcidSerialFirmware
from firmware_sim.demo import demo_psam
from firmware_sim.iso7816_card import Iso7816Card, LinkProfile
from firmware_sim.psam import PsamOS
from protocols import atr as atr_mod
from protocols import ccid, gemcore, pps, t0, t1, vpcd
from protocols.errors import MalformedFrame, ProtocolError
from tests.fuzz.support import budget
from tests.support import cardkit as ck


# --- T=1 -------------------------------------------------------------------------------------------------------
@budget(1000)
@given(st.binary(max_size=270), st.booleans())
def test_t1_decode_of_any_bytes(raw: bytes, crc: bool) -> None:
    t1.block_length(raw, crc)
    try:
        blk = t1.decode(raw, crc)
    except MalformedFrame:
        return
    assert blk.encode(crc) == raw


blocks = st.one_of(
    st.builds(t1.Block.i, st.integers(0, 1), st.binary(max_size=254), st.booleans(), st.integers(0, 255)),
    st.builds(t1.Block.r, st.integers(0, 1), st.integers(0, 2), st.integers(0, 255)),
    st.builds(lambda s, r, v, nad: t1.Block.s(s, r, bytes([v]) if s in (t1.IFS, t1.WTX) else b"", nad),
              st.sampled_from([t1.RESYNCH, t1.IFS, t1.ABORT, t1.WTX]), st.booleans(), st.integers(1, 254),
              st.integers(0, 255)))


@budget(500)
@given(blocks, st.booleans())
def test_t1_block_round_trip(blk: t1.Block, crc: bool) -> None:
    assert t1.decode(blk.encode(crc), crc) == blk


def _reverse(apdu: bytes) -> bytes:
    return apdu[::-1] + b"\x90\x00"


@budget(300)
@given(st.lists(st.binary(max_size=300) | blocks.map(lambda b: b.encode(False)), max_size=12))
def test_t1_card_answers_anything_with_a_valid_block(inputs: list[bytes]) -> None:
    card = t1.T1Card(_reverse, ifsc=254, ifsd=32)
    for raw in inputs:
        out = card.receive(raw)
        t1.decode(out, False)                     # the card's answer is always a well-formed block


@budget(300)
@given(st.binary(min_size=4, max_size=300), st.lists(st.none() | st.binary(max_size=40) |
                                                     blocks.map(lambda b: b.encode(False)), max_size=15))
def test_t1_host_survives_any_answer(apdu: bytes, answers: list[bytes | None]) -> None:
    host = t1.T1Host(ifsc=32, ifsd=254)
    send = host.begin(apdu)
    t1.decode(send, False)
    for raw in answers:
        try:
            step = host.receive(raw)
        except ProtocolError:
            return
        if step.done:
            return
        assert step.send is not None
        t1.decode(step.send, False)


@budget(250)
@given(st.binary(min_size=4, max_size=600), st.integers(8, 254), st.integers(8, 254), st.data())
def test_t1_over_a_noisy_line_is_right_or_gives_up(apdu: bytes, ifsc: int, ifsd: int,
                                                   data: st.DataObject) -> None:
    card = t1.T1Card(_reverse, ifsc=ifsc, ifsd=ifsd, crc=True)
    host = t1.T1Host(ifsc=ifsc, ifsd=ifsd, crc=True)

    def line(raw: bytes) -> bytes | None:
        fault = data.draw(st.sampled_from(["ok"] * 6 + ["flip", "drop"]))
        if fault == "drop":
            return None
        if fault == "flip":
            b = bytearray(raw)
            b[data.draw(st.integers(0, len(b) - 1))] ^= data.draw(st.integers(1, 255))
            return bytes(b)
        return raw

    send = host.begin(apdu)
    for _ in range(500):
        to_card = line(send)
        answer = card.receive(to_card) if to_card is not None else None
        try:
            step = host.receive(line(answer) if answer is not None else None)
        except ProtocolError:
            return
        if step.done:
            assert step.response == _reverse(apdu)
            return
        assert step.send is not None
        send = step.send
    raise AssertionError("T=1 exchange neither finished nor gave up after 500 blocks")


# --- CCID, GemCore and the reader firmware ---------------------------------------------------------------------
@budget(500)
@given(st.binary(max_size=300))
def test_ccid_decode_of_any_bytes(raw: bytes) -> None:
    try:
        msg = ccid.decode(raw)
    except MalformedFrame:
        return
    assert ccid.decode(msg.encode()) == msg


@budget(300)
@given(st.lists(st.binary(max_size=80), max_size=8), st.booleans())
def test_gemcore_decoder_takes_any_stream(chunks: list[bytes], from_reader: bool) -> None:
    dec = gemcore.Decoder(from_reader=from_reader)
    events = [ev for c in chunks for ev in dec.feed(c)] + dec.flush()
    for ev in events:
        assert isinstance(ev, (gemcore.Frame, gemcore.Nak, gemcore.BadFrame, gemcore.SlotChangeNotice,
                               gemcore.TimeRequest))
        if isinstance(ev, gemcore.Frame):
            ccid.decode(ev.message)


@budget(300)
@given(st.binary(max_size=60).map(lambda g: g.replace(b"\x03", b"")), st.binary(max_size=200), st.integers(1, 7))
def test_gemcore_finds_a_good_frame_after_noise(noise: bytes, payload: bytes, cut: int) -> None:
    msg = ccid.XfrBlock(0, 1, payload).encode()
    frame = gemcore.encode(msg)
    stream = noise + frame
    dec = gemcore.Decoder(from_reader=False)
    events = dec.feed(stream[:cut]) + dec.feed(stream[cut:]) + dec.flush()
    assert gemcore.Frame(msg) in events


host_messages = st.one_of(
    st.builds(ccid.IccPowerOn, st.integers(0, 2), st.integers(0, 255), st.integers(0, 3)),
    st.builds(ccid.IccPowerOff, st.integers(0, 2), st.integers(0, 255)),
    st.builds(ccid.GetSlotStatus, st.integers(0, 2), st.integers(0, 255)),
    st.builds(ccid.XfrBlock, st.integers(0, 2), st.integers(0, 255), st.binary(max_size=261),
              st.integers(0, 255), st.sampled_from([0, 0, 1, 2, 3, 0x10])),
    st.builds(ccid.GetParameters, st.integers(0, 2), st.integers(0, 255)),
    st.builds(ccid.ResetParameters, st.integers(0, 2), st.integers(0, 255)),
    st.builds(ccid.SetParameters, st.integers(0, 2), st.integers(0, 255), st.integers(0, 2),
              st.binary(max_size=8)),
    st.builds(ccid.Escape, st.integers(0, 2), st.integers(0, 255), st.binary(max_size=8)),
    st.builds(ccid.Unsupported, st.integers(0, 2), st.integers(0, 255), st.sampled_from([0x6E, 0x6A, 0x69,
              0x71, 0x72, 0x73, 0x00, 0xFF]), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
              st.binary(max_size=16)),
)

# Valid T=0 TPDUs and T=1 blocks for the XfrBlocks, so commands reach the cards too.
card_payloads = st.sampled_from([
    ck.SELECT_SSSE, bytes.fromhex("00B2012C12"), bytes.fromhex("0084000008"), bytes.fromhex("00C0000020"),
    ck.verify("000000"), t1.Block.i(0, ck.SELECT_SSSE).encode(), t1.Block.r(1).encode(),
    t1.Block.s(t1.IFS, False, b"\xFE").encode(), pps.PPS(1, 0x11).encode(), bytes.fromhex("FF1196")])


def _firmware() -> CcidSerialFirmware:
    return CcidSerialFirmware([Iso7816Card(ck.card()), Iso7816Card(PsamOS(demo_psam("440100")))])


def _check_reader_output(out: bytes) -> None:
    dec = gemcore.Decoder(from_reader=True)
    for ev in dec.feed(out) + dec.flush():
        assert not isinstance(ev, gemcore.BadFrame), f"the reader sent a bad frame: {out.hex()}"
        if isinstance(ev, gemcore.Frame):
            ccid.decode(ev.message)


@budget(200)
@given(st.lists(st.one_of(
    host_messages.map(lambda m: gemcore.encode(m.encode())),
    st.builds(lambda s, q, p: gemcore.encode(ccid.XfrBlock(s, q, p).encode()), st.integers(0, 1),
              st.integers(0, 255), card_payloads),
    st.binary(max_size=40),
    st.just(b"idle")), max_size=14))
def test_reader_firmware_answers_well_formed_frames(inputs: list[bytes]) -> None:
    fw = _firmware()
    for data in inputs:
        out = fw.line_idle() if data == b"idle" else fw.receive(data)
        _check_reader_output(out)


# --- the card's ISO 7816-3 engine ------------------------------------------------------------------------------
link_profiles = st.sampled_from([LinkProfile(), LinkProfile.t0_only(), LinkProfile.t1(), LinkProfile.t1(crc=True),
                                 LinkProfile.t1(also_t0=True, wtx=2), LinkProfile.t0_only(pps_mute=True)])


@budget(300)
@given(link_profiles, st.lists(st.binary(max_size=60) | card_payloads | st.just(b"idle"), max_size=10))
def test_card_line_engine_takes_any_bytes(profile: LinkProfile, inputs: list[bytes]) -> None:
    card = Iso7816Card(ck.card(), profile)
    atr = card.cold_reset()
    atr_mod.parse(atr)
    for data in inputs:
        out = card.line_idle() if data == b"idle" else card.feed(data)
        assert isinstance(out, bytes)


@budget(300)
@given(st.binary(max_size=40))
def test_t0_card_takes_any_bytes(data: bytes) -> None:
    card = t0.T0Card(_reverse)
    for i in range(0, len(data), 7):
        assert isinstance(card.feed(data[i:i + 7]), bytes)
    try:
        t0.check_tpdu(data)
    except MalformedFrame:
        pass


# --- ATR, PPS, vpcd -----------------------------------------------------------------------------------------------
@budget(800)
@given(st.binary(max_size=40), st.booleans())
def test_atr_parse_of_any_bytes(raw: bytes, strict: bool) -> None:
    try:
        atr_mod.atr_length(raw)
    except MalformedFrame:
        pass
    try:
        parsed = atr_mod.parse(raw, strict=strict)
    except MalformedFrame:
        return
    assert atr_mod.parse(parsed.raw) == parsed


@budget(500)
@given(st.binary(max_size=8), st.binary(max_size=8))
def test_pps_of_any_bytes(raw: bytes, answer: bytes) -> None:
    try:
        pps.pps_length(raw)
    except MalformedFrame:
        pass
    try:
        request = pps.PPS.parse(raw)
    except MalformedFrame:
        return
    assert pps.PPS.parse(request.encode()) == request
    try:
        pps.check_response(request, answer)
    except ProtocolError:
        pass
    pps.card_response(raw, atr_mod.parse(ck.card().atr))


@budget(300)
@given(st.lists(st.binary(max_size=30), max_size=8))
def test_vpcd_request_decoder_takes_any_stream(chunks: list[bytes]) -> None:
    dec = vpcd.RequestDecoder()
    for c in chunks:
        try:
            dec.feed(c)
        except MalformedFrame:
            pass
