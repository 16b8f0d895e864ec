"""The peer check: pcscd with Debian's ``libccidtwin.so`` opens our simulated GemCore SIM Pro on a pty;
pyscard sees two readers (card, PSAM) per serial reader, and the basic-info read with PSAM authentication and
PIN verify work in T=0 and in T=1 (ATR variants offering each). Our own ``ccid-serial:`` driver runs the same
flows against an identical firmware. libccid never polls card presence on a GemCore SIM Pro (its slots count
as fixed), so card movement is checked on a third reader with the GemPC Twin personality (one slot, and the
reader echoes every command frame, which libccid reads back first).

The daemon is the process's shared private pcscd (``tests.support.pcscd``: own mount namespace, own reader.conf
directory; clients reach it through ``PCSCLITE_CSOCK_NAME``). Skipped only when pcscd or libccid is missing.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.ccid_reader import GEMPC_TWIN, CcidSerialFirmware
from firmware_sim.demo import demo_psam
from firmware_sim.iso7816_card import Iso7816Card, LinkProfile
from firmware_sim.psam import PsamOS
from hardware.serial_serve import FirmwareServer, make_firmware
from host.spec import open_terminal
from host.terminal import Terminal
from protocols import atr as atr_mod
from protocols import crypto

from tests.serial.conftest import card_image
from tests.support.pcscd import CCID_TWIN_DRIVER, missing_requirements, reader_entry, shared
from tests.support.prereq import missing

H = bytes.fromhex
PROFILES = {"t0": LinkProfile.t0_only(0x96), "t1": LinkProfile.t1(0x96)}
CARD_TIMEOUT = 15.0


@dataclass
class PeerReader:
    server: FirmwareServer
    card_name: str
    psam_name: str
    entry: str


def _serve(tmp: Path, tag: str) -> FirmwareServer:
    card = CardOS.from_file(card_image(tmp, "gen2"))
    fw = make_firmware(card, PsamOS(demo_psam("440100")), card_profile=PROFILES[tag], psam_profile=PROFILES[tag])
    server = FirmwareServer(fw)
    server.serve_pty(str(tmp / f"ttyGemCore-{tag}"))
    return server


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PeerReader]]:
    reason = missing_requirements(CCID_TWIN_DRIVER)
    if reason:
        missing(reason)
    from hardware.pcsc import PcscReader, list_readers
    daemon = shared()
    out: dict[str, PeerReader] = {}
    for tag in PROFILES:
        server = _serve(tmp_path_factory.mktemp(f"libccid-{tag}"), tag)
        name = f"sscard serial {tag}"
        out[tag] = PeerReader(server, "", "", reader_entry(name, f"{server.path}:GemCoreSIMPro", CCID_TWIN_DRIVER))
    twin_card = CardOS.from_file(card_image(tmp_path_factory.mktemp("libccid-twin"), "gen2"))
    twin = FirmwareServer(CcidSerialFirmware([Iso7816Card(twin_card, LinkProfile.t0_only(0x13))], GEMPC_TWIN))
    twin.serve_pty(str(tmp_path_factory.mktemp("libccid-twin-pty") / "ttyGemPCTwin"))
    out["twin"] = PeerReader(twin, "", "", reader_entry("sscard serial twin", f"{twin.path}:GemPCTwin",
                                                         CCID_TWIN_DRIVER))
    mine = [p.entry for p in out.values()]
    daemon.ensure(mine)
    try:
        names = list_readers()
        for tag, p in out.items():
            # pcscd names slots "FRIENDLYNAME NN SS"; NN counts readers of the same driver, so look it up
            slots = sorted(n for n in names if n.startswith(f"sscard serial {tag} "))
            want = 1 if tag == "twin" else 2
            assert len(slots) == want, f"pcscd did not add the slots of {tag}: {names}\n{daemon.log_tail()}"
            p.card_name, p.psam_name = slots[0], slots[-1]
            for reader in slots:
                assert reader in names, f"pcscd did not add {reader}: {names}\n{daemon.log_tail()}"
                with PcscReader(reader) as probe:
                    assert probe.wait_for_card(CARD_TIMEOUT), f"pcscd sees no card in {reader}"
        yield out
    finally:
        for p in out.values():
            p.server.close()
        daemon.withdraw(mine)                                  # leave the shared daemon without our dead ptys


def test_pyscard_sees_card_and_psam_readers(peers: dict[str, PeerReader]):
    from hardware.pcsc import PcscReader, list_readers
    names = list_readers()
    for tag in PROFILES:
        p = peers[tag]
        assert p.card_name in names and p.psam_name in names
        for name, slot in ((p.card_name, 0), (p.psam_name, 1)):
            with PcscReader(name) as reader:
                atr_raw = reader.connect()
                assert atr_raw == p.server.firmware.slots[slot].card.atr.raw
                assert atr_mod.parse(atr_raw).protocols == ((0,) if tag == "t0" else (1,))
                assert reader.protocol == (1 if tag == "t0" else 2)            # SCARD_PROTOCOL_T0 / _T1


@pytest.mark.parametrize("tag", list(PROFILES))
def test_libccid_negotiates_pps_and_parameters(peers: dict[str, PeerReader], tag: str):
    from hardware.pcsc import PcscReader
    p = peers[tag]
    # card: GET CHALLENGE; PSAM: the terminal number in EF16
    for name, slot, apdu, size in ((p.card_name, 0, "0084000008", 10), (p.psam_name, 1, "00B0960006", 8)):
        with PcscReader(name) as reader:
            reader.connect()
            rsp = reader.transmit(H(apdu))
            assert len(rsp) == size and rsp[-2:] == H("9000")
        fw_slot = p.server.firmware.slots[slot]
        assert fw_slot.protocol == (0 if tag == "t0" else 1)
        assert fw_slot.params[0] == 0x96                     # libccid did PPS to TA1 and told the reader
        assert fw_slot.card is not None and fw_slot.card.fidi == 0x96


def _open(path: str, p: PeerReader) -> Terminal:
    if path == "pcsc":
        return open_terminal(f"pcsc:{p.card_name},psam={p.psam_name}")
    raise AssertionError(path)


def _flow(term: Terminal) -> None:
    atr_raw = term.connect()
    assert crypto.card_factor(atr_raw) == atr_mod.parse(atr_raw).historical[-8:]   # a T=1 ATR ends with TCK
    info = term.read_basic_info()
    assert info.name == "测试员" and info.authenticated
    term.verify_pin("123456")
    assert term.pin_tries_left() == 3


@pytest.mark.parametrize("tag", list(PROFILES))
def test_basic_info_and_pin_through_libccid(peers: dict[str, PeerReader], tag: str):
    term = _open("pcsc", peers[tag])
    try:
        _flow(term)
    finally:
        term.close()


@pytest.mark.parametrize("tag", list(PROFILES))
def test_basic_info_and_pin_through_our_driver_on_the_same_firmware(tmp_path: Path, tag: str):
    server = _serve(tmp_path, tag)
    term = open_terminal(f"ccid-serial:{server.path}")
    try:
        _flow(term)
        assert term.card_reader.fidi == 0x96
    finally:
        term.close()
        server.close()


def test_gempc_twin_echo_and_card_movement_reach_pcscd(peers: dict[str, PeerReader]):
    from hardware.pcsc import PcscReader
    p = peers["twin"]
    fw = p.server.firmware
    card = fw.slots[0].card
    assert card is not None
    with PcscReader(p.card_name) as reader:
        reader.connect()
        assert reader.transmit(H("0084000008"))[-2:] == H("9000")
        assert fw.slots[0].params[0] == 0x13
    with PcscReader(p.card_name) as probe:
        fw.remove(0)
        assert probe.wait_for_card(CARD_TIMEOUT, present=False)
        fw.insert(0, card)
        assert probe.wait_for_card(CARD_TIMEOUT)
    with PcscReader(p.card_name) as reader:
        reader.connect()
        assert reader.transmit(H("0084000008"))[-2:] == H("9000")
