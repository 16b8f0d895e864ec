"""hardware.vpcd_link against a fake vpcd (a plain TCP listener speaking the framing of docs/peers.md §2.6)."""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from hardware.vpcd_link import VpcdLink, parse_endpoint, serve_vpcd
from protocols import vpcd
from tests.support.devices import ECHO_ATR, EchoDevice

TIMEOUT = 5.0


class FakeVpcd:
    """vpcd's side of one slot: listens, accepts the card, sends requests, reads replies."""

    def __init__(self, port: int = 0) -> None:
        self.server = socket.create_server(("127.0.0.1", port), backlog=1)
        self.server.settimeout(TIMEOUT)
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self.frames = vpcd.FrameDecoder()
        self.queue: list[bytes] = []

    def accept(self) -> None:
        self.conn, _ = self.server.accept()
        self.conn.settimeout(TIMEOUT)
        self.frames = vpcd.FrameDecoder()
        self.queue = []

    def send(self, frame: bytes, split: bool = False) -> None:
        assert self.conn is not None
        if split:  # like Debian's vpcd: length and body in two writes
            self.conn.sendall(frame[:2])
            self.conn.sendall(frame[2:])
        else:
            self.conn.sendall(frame)

    def reply(self) -> bytes:
        assert self.conn is not None
        while not self.queue:
            data = self.conn.recv(70000)
            if not data:
                raise ConnectionError("card closed the connection")
            self.queue += self.frames.feed(data)
        return self.queue.pop(0)

    def ask(self, frame: bytes, split: bool = True) -> bytes:
        self.send(frame, split)
        return self.reply()

    def closed_by_card(self) -> bool:
        assert self.conn is not None
        try:
            return self.conn.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


@pytest.fixture
def fake() -> Iterator[FakeVpcd]:
    f = FakeVpcd()
    yield f
    f.close()


@pytest.fixture
def device() -> EchoDevice:
    return EchoDevice()


@pytest.fixture
def link(fake: FakeVpcd, device: EchoDevice) -> Iterator[VpcdLink]:
    with VpcdLink(device, port=fake.port, backoff=(0.01, 0.05)) as lk:
        yield lk


def test_power_on_atr_and_apdus(fake: FakeVpcd, link: VpcdLink, device: EchoDevice) -> None:
    fake.accept()
    assert fake.ask(vpcd.encode_control(vpcd.CTRL_GET_ATR)) == ECHO_ATR  # presence poll before power
    fake.send(vpcd.encode_control(vpcd.CTRL_POWER_ON))
    assert fake.ask(vpcd.encode_control(vpcd.CTRL_GET_ATR)) == ECHO_ATR
    assert device.powered and device.power_ons == 1
    assert fake.ask(vpcd.encode_apdu(bytes.fromhex("00A4000002EF05"))) == bytes.fromhex("EF059000")
    assert fake.ask(vpcd.encode_apdu(bytes.fromhex("00B2072C0B"))) == bytes(range(11)) + b"\x90\x00"
    fake.send(vpcd.encode_control(vpcd.CTRL_RESET))
    assert fake.ask(vpcd.encode_control(vpcd.CTRL_GET_ATR)) == ECHO_ATR
    assert device.resets == 1
    fake.send(vpcd.encode_control(vpcd.CTRL_POWER_OFF))
    assert fake.ask(vpcd.encode_control(vpcd.CTRL_GET_ATR)) == ECHO_ATR  # still answers, never empty
    assert not device.powered
    assert link.serving


def test_extended_length_round_trip(fake: FakeVpcd, link: VpcdLink) -> None:
    fake.accept()
    data = bytes(range(256)) * 16
    apdu = b"\x80\xd6\x00\x00\x00" + len(data).to_bytes(2, "big") + data
    assert fake.ask(vpcd.encode_apdu(apdu)) == data + b"\x90\x00"
    assert len(fake.ask(vpcd.encode_apdu(b"\x00\xb0\x00\x00\x00\x00\x00"))) == 65535


def test_unknown_control_is_ignored_and_stream_stays_in_sync(fake: FakeVpcd, link: VpcdLink) -> None:
    fake.accept()
    fake.send(b"\x00\x01\x07" + vpcd.encode_control(vpcd.CTRL_GET_ATR))
    assert fake.reply() == ECHO_ATR


def test_device_errors_become_6f00_not_silence(fake: FakeVpcd, device: EchoDevice) -> None:
    class Broken(EchoDevice):
        def process(self, apdu: bytes) -> bytes:
            if apdu[1] == 0x01:
                raise RuntimeError("bug")
            return b""

    with VpcdLink(Broken(), port=fake.port):
        fake.accept()
        assert fake.ask(vpcd.encode_apdu(b"\x00\x01\x00\x00")) == b"\x6f\x00"
        assert fake.ask(vpcd.encode_apdu(b"\x00\x02\x00\x00")) == b"\x6f\x00"


def test_remove_and_insert_card(fake: FakeVpcd, link: VpcdLink, device: EchoDevice) -> None:
    fake.accept()
    fake.send(vpcd.encode_control(vpcd.CTRL_POWER_ON))
    assert fake.ask(vpcd.encode_control(vpcd.CTRL_GET_ATR)) == ECHO_ATR
    link.remove_card()
    assert fake.closed_by_card()
    fake.server.settimeout(0.3)
    with pytest.raises(socket.timeout):  # stays out until inserted again
        fake.server.accept()
    assert not device.powered
    link.insert_card()
    fake.server.settimeout(TIMEOUT)
    fake.accept()
    assert fake.ask(vpcd.encode_control(vpcd.CTRL_GET_ATR)) == ECHO_ATR
    assert link.connections == 2


def test_reconnects_when_vpcd_goes_away_and_comes_back(device: EchoDevice) -> None:
    first = FakeVpcd()
    port = first.port
    with VpcdLink(device, port=port, backoff=(0.01, 0.05)) as link:
        first.accept()
        assert first.ask(vpcd.encode_control(vpcd.CTRL_GET_ATR)) == ECHO_ATR
        first.close()  # pcscd stopped: listener and connection gone
        second = FakeVpcd(port)  # pcscd back on the same port
        try:
            second.accept()
            assert second.ask(vpcd.encode_control(vpcd.CTRL_GET_ATR)) == ECHO_ATR
            assert link.connections >= 2  # may also have caught the old listener while it closed
        finally:
            second.close()


def test_stop_while_waiting_for_vpcd_returns_promptly(device: EchoDevice) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    link = VpcdLink(device, port=port, backoff=(0.01, 10.0)).start()
    link.stop(timeout=TIMEOUT)
    assert link._thread is not None and not link._thread.is_alive()


def test_ack_fix_sets_nodelay_and_single_write(fake: FakeVpcd, device: EchoDevice) -> None:
    for ack_fix in (True, False):
        with VpcdLink(device, port=fake.port, ack_fix=ack_fix) as link:
            fake.accept()
            assert fake.ask(vpcd.encode_control(vpcd.CTRL_GET_ATR)) == ECHO_ATR
            assert link._sock is not None
            nodelay = link._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert bool(nodelay) is ack_fix


def test_refuses_non_loopback_unless_allowed(device: EchoDevice) -> None:
    with pytest.raises(ValueError, match="loopback"):
        VpcdLink(device, host="192.0.2.1")
    VpcdLink(device, host="192.0.2.1", allow_remote=True)  # allowed on request, not started


def test_parse_endpoint() -> None:
    assert parse_endpoint("35963") == ("127.0.0.1", 35963)
    assert parse_endpoint("localhost:4000") == ("localhost", 4000)
    assert parse_endpoint(":4000") == ("127.0.0.1", 4000)
    for bad in ("", "host:", "host:0", "99999", "x:y"):
        with pytest.raises(ValueError):
            parse_endpoint(bad)


def test_serve_vpcd_two_slots_until_stopped() -> None:
    card_side, psam_side = FakeVpcd(), None
    try:
        # Two consecutive ports: the card on port, the PSAM on port + 1.
        for _ in range(20):
            try:
                psam_side = FakeVpcd(card_side.port + 1)
                break
            except OSError:
                card_side.close()
                card_side = FakeVpcd()
        assert psam_side is not None
        card, psam = EchoDevice(), EchoDevice(atr=b"\x3b\x00\x11")
        stop = threading.Event()
        thread = threading.Thread(target=serve_vpcd, args=([card, psam], "127.0.0.1", card_side.port, stop))
        thread.start()
        card_side.accept()
        psam_side.accept()
        assert card_side.ask(vpcd.encode_control(vpcd.CTRL_GET_ATR)) == ECHO_ATR
        assert psam_side.ask(vpcd.encode_control(vpcd.CTRL_GET_ATR)) == b"\x3b\x00\x11"
        stop.set()
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        assert card_side.closed_by_card() and psam_side.closed_by_card()
    finally:
        card_side.close()
        if psam_side is not None:
            psam_side.close()
