"""Our ``ccid-serial:`` host driver against the simulated GemCore SIM Pro firmware over a real pty:
start-up, both slots, PPS at the fastest common Fi/Di, T=0 procedure bytes, T=1 (LRC, CRC, chaining, IFS,
WTX), specific mode, card movement, TCP, the GemPC Twin echo, NAK handling, and the terminal flows."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.ccid_reader import GEMPC_TWIN
from firmware_sim.demo import demo_psam
from firmware_sim.iso7816_card import LinkProfile
from firmware_sim.psam import PsamOS
from hardware.ccid_serial import CcidSerialReader, PySerialPipe, open_readers, parse_spec
from host.engine import ApduEngine
from host.spec import open_terminal
from protocols import atr as atr_mod
from protocols import ccid, crypto, t0
from protocols.errors import NoCard
from tests.serial.conftest import SCRIPT_ATR, BenchFactory, ScriptDevice, card_image

H = bytes.fromhex
APDUS = [H("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00"), H("00B2010400"), H("00B2050400"), H("0084000008"),
         H("0020000003123456"), H("0020000003111111"), H("80E00000") + bytes([200]) + bytes(range(200)) + b"\x00",
         H("00B2072C0B")]


def check_all(reader_slot: object) -> None:
    engine = ApduEngine(reader_slot)  # type: ignore[arg-type]  # a slot of the reader is a Reader
    engine.connect()
    for apdu in APDUS:
        rsp = engine.transmit(apdu)
        assert rsp.data + rsp.sw.to_bytes(2, "big") == ScriptDevice.final(apdu), apdu.hex()


def test_startup_and_two_slots_with_the_devices_own_atr(serial_bench: BenchFactory):
    bench = serial_bench()
    with CcidSerialReader(bench.url) as reader:
        assert reader.firmware.startswith("GemCoreSIMPro")
        assert [s.slot for s in reader.slots] == [0, 1]
        for slot in reader.slots:
            assert slot.connect() == SCRIPT_ATR
            assert slot.protocol == 0 and slot.fidi == 0x11          # no TA1: 9600 etu, no PPS
            check_all(slot)
    assert bench.server.stats.bytes_in > 0


def test_pps_picks_the_fastest_common_speed(serial_bench: BenchFactory):
    bench = serial_bench(card_profile=LinkProfile.t0_only(0x96), psam_profile=LinkProfile.t0_only(0x18))
    with CcidSerialReader(bench.url) as reader:
        reader.card.connect()
        reader.psam.connect()   # type: ignore[union-attr]  # this reader has a PSAM slot
        assert reader.card.fidi == 0x96 and reader.psam.fidi == 0x18   # type: ignore[union-attr]  # this reader has a PSAM slot
        assert bench.cards[0].fidi == 0x96 and bench.cards[1].fidi == 0x18   # type: ignore[union-attr]  # this reader has a PSAM slot
        assert [s.params[0] for s in bench.firmware.slots] == [0x96, 0x18] and bench.firmware.stats["pps"] == 2
        check_all(reader.card)
        check_all(reader.psam)


def test_slower_reader_gets_a_lower_di(serial_bench: BenchFactory):
    """A GemPC Twin (344 kbit/s at 4 MHz) cannot run TA1 = 97 (512/64: 500 kbit/s): PPS asks 96 instead."""
    bench = serial_bench(card_profile=LinkProfile.t0_only(0x97), model=GEMPC_TWIN)
    with CcidSerialReader(bench.url, model="GemPCTwin") as reader:
        assert len(reader.slots) == 1 and reader.link.echo
        reader.card.connect()
        assert reader.card.fidi == 0x96
        check_all(reader.card)


@pytest.mark.parametrize("crc", [False, True])
@pytest.mark.parametrize("ifsc", [32, 254])
def test_t1_lrc_crc_chaining(serial_bench: BenchFactory, crc: bool, ifsc: int):
    bench = serial_bench(card_profile=LinkProfile.t1(0x13, crc=crc, ifsc=ifsc), psam_profile=LinkProfile.t1())
    with CcidSerialReader(bench.url) as reader:
        raw = reader.card.connect()
        a = atr_mod.parse(raw)
        assert a.protocols == (1,) and a.crc is crc and a.ifsc == ifsc
        assert reader.card.protocol == 1 and reader.card.fidi == 0x13
        assert reader.card._t1 is not None and reader.card._t1.ifsd == 254
        assert bench.firmware.slots[0].protocol == 1
        check_all(reader.card)
        big = H("80E00000FF") + bytes(range(255)) + b"\x00"
        assert reader.card.transmit(big) == bytes(range(255))[::-1] + H("9000")
        reader.psam.connect()   # type: ignore[union-attr]  # this reader has a PSAM slot
        assert reader.psam.protocol == 1 and reader.psam.fidi == 0x11    # type: ignore[union-attr]  # this reader has a PSAM slot
        check_all(reader.psam)


def test_preferred_protocol_when_card_offers_both(serial_bench: BenchFactory):
    bench = serial_bench(card_profile=LinkProfile.t1(0x18, also_t0=True))
    with CcidSerialReader(bench.url, protocol=0) as reader:
        reader.card.connect()
        assert reader.card.protocol == 0 and bench.cards[0].protocol == 0   # type: ignore[union-attr]  # this reader has a PSAM slot
        check_all(reader.card)
    with CcidSerialReader(bench.url) as reader:                           # default: the card's first offer
        reader.card.connect()
        assert reader.card.protocol == 1
        check_all(reader.card)


def test_specific_mode_skips_pps(serial_bench: BenchFactory):
    offer = atr_mod.Offer(protocols=(1,), fidi=0x13, specific=True)
    bench = serial_bench(card_profile=LinkProfile(offer))
    with CcidSerialReader(bench.url) as reader:
        reader.card.connect()
        assert reader.card.protocol == 1 and reader.card.fidi == 0x13
        check_all(reader.card)
    assert bench.firmware.stats["pps"] == 0


def test_pps_disabled_and_card_that_ignores_pps(serial_bench: BenchFactory):
    bench = serial_bench(card_profile=LinkProfile.t0_only(0x96), psam_profile=LinkProfile(
        atr_mod.Offer(protocols=(0,), fidi=0x96), pps_mute=True))
    card, psam = open_readers(f"{bench.url}")
    try:
        card.pps_enabled = False
        card.connect()
        assert card.fidi == 0x11 and bench.firmware.stats["pps"] == 0
        check_all(card)
        assert psam is not None
        psam.connect()                       # PPS unanswered: cold reset, then the defaults
        assert psam.fidi == 0x11 and psam.protocol == 0 and bench.firmware.stats["pps"] == 1
        check_all(psam)
    finally:
        card.disconnect()
        if psam is not None:
            psam.disconnect()


def test_t0_nulls_and_single_byte_acks(serial_bench: BenchFactory):
    opts = t0.T0CardOptions(nulls=3, single_byte_acks=True)
    bench = serial_bench(card_profile=LinkProfile(atr_mod.Offer(fidi=0x13), t0=opts))
    with CcidSerialReader(bench.url) as reader:
        check_all(reader.card)


def test_t1_wtx(serial_bench: BenchFactory):
    bench = serial_bench(card_profile=LinkProfile.t1(wtx=2))
    with CcidSerialReader(bench.url) as reader:
        check_all(reader.card)


def test_commands_run_once(serial_bench: BenchFactory):
    dev0, dev1 = ScriptDevice(), ScriptDevice()
    bench = serial_bench(dev0, dev1, card_profile=LinkProfile.t1(), psam_profile=LinkProfile.t0_only())
    with CcidSerialReader(bench.url) as reader:
        check_all(reader.card)
        check_all(reader.psam)
    assert max(dev0.executions.values()) == 1
    assert max(dev1.executions.values()) == 1   # 6Cxx and 61xx are served without running the command again


def test_no_card_removal_and_reinsertion(serial_bench: BenchFactory):
    bench = serial_bench(no_psam=True)
    with CcidSerialReader(bench.url) as reader:
        with pytest.raises(NoCard):
            reader.psam.connect()   # type: ignore[union-attr]  # this reader has a PSAM slot
        reader.card.connect()
        card = bench.cards[0]
        assert card is not None
        bench.firmware.remove(0)
        with pytest.raises(NoCard):
            reader.card.transmit(H("0084000008"))
        assert reader.link.slot_changes[-1] & 0b11 == 0b10        # 50 xx: slot 0 changed, absent
        bench.firmware.insert(0, card)
        check_all(reader.card)
        assert reader.link.slot_changes[-1] & 0b11 == 0b11        # changed, present


def test_tcp_socket_url(serial_bench: BenchFactory):
    bench = serial_bench(tcp=True, card_profile=LinkProfile.t1(0x18))
    assert bench.url.startswith("socket://127.0.0.1:")
    with CcidSerialReader(bench.url) as reader:
        check_all(reader.card)
        check_all(reader.psam)


def test_port_closes_when_every_slot_is_disconnected(serial_bench: BenchFactory):
    bench = serial_bench(link=True)
    card, psam = open_readers(bench.url)
    assert psam is not None
    card.connect()
    psam.connect()
    card.disconnect()
    assert card.reader.is_open
    psam.disconnect()
    assert not card.reader.is_open
    check_all(card)                           # connect reopens it
    card.disconnect()
    assert not card.reader.is_open


class OneShotCorruption:
    """A pipe that flips one byte: the ``n``-th byte written, or the ``n``-th byte read."""

    def __init__(self, pipe: PySerialPipe, *, write_at: int | None = None, read_at: int | None = None) -> None:
        self.pipe, self.write_at, self.read_at = pipe, write_at, read_at
        self.written = self.read_count = 0

    def write(self, data: bytes) -> None:
        b = bytearray(data)
        if self.write_at is not None and self.written <= self.write_at < self.written + len(b):
            b[self.write_at - self.written] ^= 0x40
        self.written += len(b)
        self.pipe.write(bytes(b))

    def read(self, size: int, timeout: float) -> bytes:
        b = bytearray(self.pipe.read(size, timeout))
        if self.read_at is not None and self.read_count <= self.read_at < self.read_count + len(b):
            b[self.read_at - self.read_count] ^= 0x40
        self.read_count += len(b)
        return bytes(b)

    def close(self) -> None:
        self.pipe.close()


def test_corrupted_reply_is_naked_and_resent(serial_bench: BenchFactory):
    bench = serial_bench()
    pipe = OneShotCorruption(PySerialPipe(bench.url), read_at=20)    # inside the firmware-version reply
    with CcidSerialReader(bench.url, pipe=pipe, gap_timeout=0.02) as reader:
        assert reader.firmware.startswith("GemCoreSIMPro")
        assert reader.link.stats["naks_sent"] == 1 and bench.firmware.stats["naks_received"] == 1
        check_all(reader.card)


def test_corrupted_command_is_naked_by_the_reader_and_resent(serial_bench: BenchFactory):
    bench = serial_bench()
    pipe = OneShotCorruption(PySerialPipe(bench.url), write_at=6)     # inside the first Escape
    with CcidSerialReader(bench.url, pipe=pipe) as reader:
        assert reader.firmware.startswith("GemCoreSIMPro")
        assert bench.firmware.stats["naks_sent"] == 1
        assert reader.link.stats["naks_received"] == 1 and reader.link.stats["resends"] == 1
        check_all(reader.card)


def test_parse_spec():
    assert parse_spec("ccid-serial:/dev/ttyUSB0") == ("/dev/ttyUSB0", {})
    url, opts = parse_spec("ccid-serial:socket://127.0.0.1:7777,baud=9600,protocol=1,pps=off,model=GemPCTwin")
    assert url == "socket://127.0.0.1:7777"
    assert opts == {"baud": 9600, "protocol": 1, "pps_enabled": False, "model": "GemPCTwin"}
    with pytest.raises(ValueError):
        parse_spec("ccid-serial:/dev/x,colour=blue")
    with pytest.raises(ValueError):
        parse_spec("ccid-serial:")


# --- the real card OS and PSAM through the reader spec --------------------------------------------------------
def _real_bench(serial_bench: BenchFactory, tmp_path: Path, profile: LinkProfile | None) -> str:
    card = CardOS.from_file(card_image(tmp_path, "gen2"))
    bench = serial_bench(card, PsamOS(demo_psam("440100")), card_profile=profile, psam_profile=profile)
    return bench.spec


def _host_reads_card_factor_from_historical_bytes(raw_atr: bytes) -> bool:
    return crypto.card_factor(raw_atr) == atr_mod.parse(raw_atr).historical[-8:]


@pytest.mark.parametrize("profile", [None, LinkProfile.t0_only(0x96), LinkProfile.t1(0x96), LinkProfile.t1(crc=True)],
                         ids=["device-atr", "t0-96", "t1-96", "t1-crc"])
def test_basic_info_and_pin_through_the_spec(serial_bench: BenchFactory, tmp_path: Path, profile: LinkProfile | None):
    term = open_terminal(_real_bench(serial_bench, tmp_path, profile))
    try:
        atr_raw = term.connect()
        assert _host_reads_card_factor_from_historical_bytes(atr_raw)   # a T=1 ATR ends with TCK
        info = term.read_basic_info()
        assert info.name == "测试员" and info.authenticated
        term.verify_pin("123456")
        assert term.pin_tries_left() == 3
    finally:
        term.close()


def test_reply_types_checked():
    assert ccid.REPLY_TYPE[ccid.XfrBlock.TYPE] == ccid.DataBlock.TYPE


def test_paced_line_still_carries_everything(serial_bench: BenchFactory):
    """The simulator pacing bytes at 38400 baud and the card line at the negotiated Fi/Di: behaviour only."""
    bench = serial_bench(card_profile=LinkProfile.t0_only(0x96), psam_profile=LinkProfile.t1(0x13), baud=38400)
    with CcidSerialReader(bench.url, baud=38400) as reader:
        link = reader.link
        check_all(reader.card)
        check_all(reader.psam)
    stats = bench.server.stats
    assert (stats.bytes_in, stats.bytes_out) == (link.stats["bytes_out"], link.stats["bytes_in"])
    assert stats.card_seconds > 0
