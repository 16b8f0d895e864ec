"""The real card OS and PSAM behind pcscd: the same APDUs and flows as in-process, over PC/SC.

pyscard → private pcscd → Debian vpcd → VpcdLink → firmware_sim CardOS (slot 0) / PsamOS (slot 1).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_card, demo_psam
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from hardware.pcsc import PcscReader, open_psam_reader, open_reader
from hardware.vpcd_link import VpcdLink
from host.terminal import Terminal
from protocols.errors import NoCard, WrongPin

from .conftest import VpcdBench

pytestmark = pytest.mark.pcsc

SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
Serve = Callable[..., VpcdLink]


def fresh_devices() -> tuple[CardOS, PsamOS]:
    """The demo card and its city's PSAM, in memory (nothing written back to the shipped images)."""
    card = CardOS(demo_card())
    return card, PsamOS(demo_psam(card.image.region))


@pytest.fixture
def readers(pcscd_vpcd: VpcdBench, serve: Serve) -> Iterator[tuple[PcscReader, PcscReader, VpcdLink]]:
    card, psam = fresh_devices()
    link = serve(card, 0)
    serve(psam, 1)
    card_reader = open_reader(pcscd_vpcd.card_reader)
    psam_reader = open_psam_reader(card_reader)  # how `pcsc:NAME` finds the PSAM: the same reader's next slot
    assert psam_reader is not None and psam_reader.name == pcscd_vpcd.psam_reader
    yield card_reader, psam_reader, link
    card_reader.disconnect()
    psam_reader.disconnect()


def transmit_t0(reader: PcscReader, apdu: bytes) -> bytes:
    """Transmit, fetching a 61xx remainder with GET RESPONSE (the card's ATR offers T=0)."""
    rsp = reader.transmit(apdu)
    if rsp[-2] == 0x61:
        rsp = reader.transmit(bytes([0x00, 0xC0, 0x00, 0x00, rsp[-1]]))
    return rsp


def test_card_apdus(readers: tuple[PcscReader, PcscReader, VpcdLink]) -> None:
    card, _psam, _ = readers
    assert card.connect()[:4] == bytes.fromhex("3B6D0000")
    fci = transmit_t0(card, SELECT_SSSE)
    assert fci[-2:] == b"\x90\x00" and b"\x88\x01\x1e" in fci and b"\x9f\x0c" not in fci  # gen2: no 9F0C
    assert card.transmit(bytes.fromhex("00A4000002EF05")) == b"\x90\x00"
    record = card.transmit(bytes.fromhex("00B2072C0B"))
    assert record[:2] == bytes.fromhex("0709") and record[-2:] == b"\x90\x00" and len(record) == 13


def test_psam_terminal_number(readers: tuple[PcscReader, PcscReader, VpcdLink]) -> None:
    _card, psam, _ = readers
    psam.connect()
    rsp = psam.transmit(bytes.fromhex("00B0960006"))
    assert len(rsp) == 8 and rsp[-2:] == b"\x90\x00"


def test_basic_info_with_psam_authentication_matches_in_process(
    readers: tuple[PcscReader, PcscReader, VpcdLink],
) -> None:
    card, psam, _ = readers
    over_pcsc = Terminal(card, psam).read_basic_info()
    ref_card, ref_psam = fresh_devices()
    in_process = Terminal(
        InProcessReader(ref_card), InProcessReader(ref_psam)).read_basic_info()
    assert over_pcsc.authenticated
    assert over_pcsc == in_process


def test_pin_verify_change_reload(readers: tuple[PcscReader, PcscReader, VpcdLink]) -> None:
    card, psam, _ = readers
    term = Terminal(card, psam)
    with pytest.raises(WrongPin) as wrong:
        term.verify_pin("000000")
    assert wrong.value.tries_left == 2
    term.verify_pin("123456")  # a good PIN resets the counter
    assert term.pin_tries_left() == 3
    term.change_pin("123456", "246802")
    term.verify_pin("246802")
    term.reload_pin("123456")  # MAC'd with PSAM-derived keys
    term.verify_pin("123456")


def test_secured_update(readers: tuple[PcscReader, PcscReader, VpcdLink]) -> None:
    card, psam, _ = readers
    term = Terminal(card, psam)
    term.write_item("DF01/EF06", "guardian_phone", "020-12345678")
    assert term.read_items("DF01/EF06", ["guardian_phone"]) == {"guardian_phone": "020-12345678"}


def test_card_removed_mid_flow(readers: tuple[PcscReader, PcscReader, VpcdLink]) -> None:
    card, psam, link = readers
    term = Terminal(card, psam)
    term.read_basic_info()
    with card.transaction():
        card.transmit(bytes.fromhex("00A4000002EF05"))
        link.remove_card()
        with pytest.raises(NoCard):
            card.transmit(bytes.fromhex("00B2072C0B"))
    with pytest.raises(NoCard):
        term.read_basic_info()
    link.insert_card()
    assert card.wait_for_card(10)
    assert term.read_basic_info().authenticated


def test_a_second_program_reads_after_the_first_left_the_psam_in_its_application(
    pcscd_vpcd: VpcdBench, readers: tuple[PcscReader, PcscReader, VpcdLink],
) -> None:
    """Two programs share the readers (SCARD_SHARE_SHARED): connecting does not reset the PSAM, so the second
    finds it in the application the first selected. Its terminal-number read by SFI answers 6A82 there; the
    client selects the MF and reads again."""
    card, psam, _ = readers
    first = Terminal(card, psam).read_basic_info()
    assert first.authenticated
    with PcscReader(pcscd_vpcd.card_reader) as card2, PcscReader(pcscd_vpcd.psam_reader) as psam2:
        second = Terminal(card2, psam2).read_basic_info()
        assert second == first


def test_a_read_after_another_program_moved_the_psam_to_its_sm4_application(
    pcscd_vpcd: VpcdBench, readers: tuple[PcscReader, PcscReader, VpcdLink],
) -> None:
    """Between two reads of one terminal another program selects the PSAM's SM4 application (as a read of a gen3
    card does). The PSAM holds a key at the same address there and takes BF DE, so a terminal that trusted its
    last selection would send the 3DES card's work to the SM4 application and the read would fail; the terminal
    selects the application again at each session."""
    card, psam, _ = readers
    term = Terminal(card, psam)
    first = term.read_basic_info()
    with PcscReader(pcscd_vpcd.psam_reader, disposition="leave") as other:   # the PSAM stays powered
        assert other.transmit(bytes.fromhex("00A4000002DF02"))[-2:] == b"\x90\x00"
    assert term.read_basic_info() == first
