"""hardware.pcsc through the real stack: pyscard → private pcscd → Debian vpcd → VpcdLink → test Device."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from smartcard import scard

from hardware.pcsc import CardReset, list_readers, open_reader
from hardware.vpcd_link import VpcdLink
from protocols.errors import NoCard, ReaderError
from tests.support.devices import ECHO_ATR, EchoDevice

from .conftest import CARD_TIMEOUT, VpcdBench

pytestmark = pytest.mark.pcsc

Serve = Callable[..., VpcdLink]


def t1_only_atr(historical: bytes) -> bytes:
    """``3B 8K 01 hist TCK``: TD1 announces T=1 only."""
    body = bytes([0x80 | len(historical), 0x01]) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes([tck])


T0_ATR = bytes.fromhex("3B6D0000") + b"sscard-t0-atr"  # the shipped card's ATR shape: no TDi, so T=0
T1_ATR = t1_only_atr(b"sscard-t1")


def test_list_and_select_readers(pcscd_vpcd: VpcdBench) -> None:
    card, psam = pcscd_vpcd.card_reader, pcscd_vpcd.psam_reader
    readers = list_readers()
    assert {card, psam} <= set(readers)
    assert open_reader(card).name == card
    assert open_reader(psam.upper()[-17:]).name == psam  # substring, case-insensitive
    assert open_reader(str(readers.index(psam))).name == psam
    with pytest.raises(ReaderError, match=f"no PC/SC reader matches 'nonesuch'.*{card}"):
        open_reader("nonesuch")
    with pytest.raises(ReaderError, match="#99"):
        open_reader("99")


def test_empty_slot_gives_nocard(pcscd_vpcd: VpcdBench) -> None:
    with pcscd_vpcd.reader() as reader:
        assert reader.wait_for_card(CARD_TIMEOUT, present=False)
        with pytest.raises(NoCard):
            reader.connect()
        assert not reader.wait_for_card(0.2)


@pytest.mark.parametrize(("atr", "protocol"), [(T1_ATR, scard.SCARD_PROTOCOL_T1), (T0_ATR, scard.SCARD_PROTOCOL_T0)])
def test_apdu_cases_round_trip(pcscd_vpcd: VpcdBench, serve: Serve, atr: bytes, protocol: int) -> None:
    device = EchoDevice(atr=atr)
    serve(device)
    with pcscd_vpcd.reader() as reader:
        assert reader.connect() == atr
        assert reader.protocol == protocol  # what the ATR offers, negotiated by pcscd
        assert reader.transmit(bytes.fromhex("00A4000002EF05")) == bytes.fromhex("EF059000")  # case 3
        assert reader.transmit(bytes.fromhex("0084000008")) == bytes(range(8)) + b"\x90\x00"  # case 2
        assert reader.transmit(bytes.fromhex("0020000003123456")) == bytes.fromhex("1234569000")
        assert reader.transmit(bytes.fromhex("00B2072C00")) == bytes(range(256)) + b"\x90\x00"  # Le 00 = 256
        assert reader.transmit(bytes.fromhex("00E00000")) == b"\x90\x00"  # case 1
    assert device.seen[0] == bytes.fromhex("00A4000002EF05")
    assert device.power_ons >= 1


def test_extended_length(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    serve(EchoDevice(atr=T1_ATR))
    data = bytes(i & 0xFF for i in range(4000))
    with pcscd_vpcd.reader() as reader:
        reader.connect()
        echoed = reader.transmit(b"\x00\xd6\x00\x00\x00" + len(data).to_bytes(2, "big") + data)
        assert echoed == data + b"\x90\x00"
        longest = reader.transmit(b"\x00\xb0\x00\x00\x00\x00\x00")  # extended Le 0000 = 65536
        assert len(longest) == 0xFFFF and longest[-2:] == b"\x90\x00"  # vpcd's frame limit


def test_psam_in_second_reader(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    card, psam = EchoDevice(), EchoDevice(atr=T1_ATR)
    serve(card, 0)
    serve(psam, 1)
    with pcscd_vpcd.reader(0) as card_reader, pcscd_vpcd.reader(1) as psam_reader:
        assert card_reader.connect() == ECHO_ATR
        assert psam_reader.connect() == T1_ATR
        psam_reader.transmit(bytes.fromhex("00B0960006"))
        card_reader.transmit(bytes.fromhex("00A4000002EF05"))
    assert psam.seen == [bytes.fromhex("00B0960006")]
    assert card.seen == [bytes.fromhex("00A4000002EF05")]


def test_a_reader_without_part10_features_has_no_pin_pad(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    serve(EchoDevice())
    with pcscd_vpcd.reader(0) as reader:
        assert reader.features() == {}          # vpcd refuses GET_FEATURE_REQUEST: the host asks the holder itself
        assert reader.pin_pad() is None
        assert reader.transmit(bytes.fromhex("00A4000002EF05"))[-2:] == b"\x90\x00"   # the session is unharmed


def test_reset_and_disconnect_power_cycle_the_device(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    device = EchoDevice()
    serve(device)
    reader = pcscd_vpcd.reader()
    reader.connect()
    assert device.powered
    assert reader.reset() == ECHO_ATR
    assert device.resets == 1
    offs = device.power_offs
    reader.disconnect()  # default disposition: unpower, so the card's security state is gone
    reader.disconnect()  # safe twice
    # vpcd's power-off frame (00) has no answer, so the link may handle it just after disconnect returns.
    deadline = time.monotonic() + CARD_TIMEOUT
    while device.powered and time.monotonic() < deadline:
        time.sleep(0.01)
    assert device.power_offs > offs and not device.powered


def test_transaction_excludes_other_contexts(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    serve(EchoDevice())
    order: list[str] = []
    other_in = threading.Event()

    def other() -> None:
        with pcscd_vpcd.reader() as second, second.transaction():
            order.append("other")
            other_in.set()

    with pcscd_vpcd.reader() as first:
        with first.transaction():
            with first.transaction():  # re-entrant
                first.transmit(bytes.fromhex("0084000008"))
            thread = threading.Thread(target=other)
            thread.start()
            assert not other_in.wait(0.5), "a second context got in during our transaction"
            order.append("first")
        thread.join(CARD_TIMEOUT)
    assert order == ["first", "other"]


def test_card_removed_mid_flow_then_inserted(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    device = EchoDevice()
    link = serve(device)
    with pcscd_vpcd.reader() as reader:
        with reader.transaction():
            reader.transmit(bytes.fromhex("00A4000002EF05"))
            link.remove_card()
            with pytest.raises(NoCard):
                reader.transmit(bytes.fromhex("00B2072C0B"))
            link.insert_card()
            assert reader.wait_for_card(CARD_TIMEOUT)
            # The flow must not carry on against a fresh card session (no SELECT, no authentication).
            with pytest.raises(NoCard, match="lost earlier in this transaction"):
                reader.transmit(bytes.fromhex("00B2072C0B"))
        # The next flow reconnects on its own (the card was powered on again).
        with reader.transaction():
            assert reader.transmit(bytes.fromhex("00B2072C02")) == bytes.fromhex("00019000")
        link.remove_card()
        with pytest.raises(NoCard):  # outside a transaction too
            reader.transmit(bytes.fromhex("00B2072C0B"))
        with pytest.raises(NoCard):  # and again: it fails fast while the slot is empty, it does not hang
            reader.transmit(bytes.fromhex("00B2072C0B"))
    assert device.power_ons >= 2


def test_pcscd_restart_gives_typed_error_then_recovers(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    device = EchoDevice()
    link = serve(device)
    reader = pcscd_vpcd.reader()
    try:
        reader.connect()
        reader.transmit(bytes.fromhex("0084000008"))
        pcscd_vpcd.daemon.restart()
        with pytest.raises(ReaderError) as info:
            reader.transmit(bytes.fromhex("0084000008"))
        assert not isinstance(info.value, NoCard)  # pcscd went away, not the card
        # The link reconnects to the new vpcd on its own; the reader builds a new context.
        assert reader.wait_for_card(CARD_TIMEOUT)
        assert reader.transmit(bytes.fromhex("0084000004")) == bytes(range(4)) + b"\x90\x00"
        assert link.connections >= 2
    finally:
        reader.disconnect()


def test_pcscd_down_fails_fast_with_reader_error(pcscd_vpcd: VpcdBench) -> None:
    daemon = pcscd_vpcd.daemon
    reader = pcscd_vpcd.reader()
    daemon.stop()
    try:
        with pytest.raises(ReaderError, match="cannot reach pcscd"):
            reader.connect()
        with pytest.raises(ReaderError, match="cannot reach pcscd"):
            list_readers()
    finally:
        daemon.start(daemon.entries)
    assert pcscd_vpcd.card_reader in list_readers()


def test_reader_unplugged_then_back(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    """pcscd comes back without the reader (unplugged): typed error; with it again: recovers."""
    serve(EchoDevice())
    daemon = pcscd_vpcd.daemon
    entries = list(daemon.entries)
    with pcscd_vpcd.reader() as reader:
        reader.transmit(bytes.fromhex("0084000002"))
        daemon.stop()
        daemon.start([])
        try:
            with pytest.raises(ReaderError):
                reader.transmit(bytes.fromhex("0084000002"))
            with pytest.raises(ReaderError, match="no PC/SC reader"):
                reader.transmit(bytes.fromhex("0084000002"))
        finally:
            daemon.stop()
            daemon.start(entries)
        assert reader.wait_for_card(CARD_TIMEOUT)
        assert reader.transmit(bytes.fromhex("0084000002")) == bytes.fromhex("00019000")


def test_reset_by_another_application(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    """Another process resets the card: mid-flow that is a typed CardReset; between flows it is absorbed."""
    serve(EchoDevice())
    with pcscd_vpcd.reader() as ours, pcscd_vpcd.reader() as theirs:
        ours.connect()
        theirs.connect()
        theirs.reset()
        with pytest.raises(CardReset):
            ours.transmit(bytes.fromhex("0084000002"))
        assert ours.transmit(bytes.fromhex("0084000002")) == bytes.fromhex("00019000")  # reconnected
        theirs.reset()
        with ours.transaction():  # a new flow starts from scratch anyway: acknowledged and counted
            assert ours.transmit(bytes.fromhex("0084000002")) == bytes.fromhex("00019000")
        assert ours.resets_seen == 1
