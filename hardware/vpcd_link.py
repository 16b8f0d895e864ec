"""Serve emulated devices to pcscd's vpcd driver (docs/peers.md §2.6).

vpcd (``libifdvpcd.so``) listens on ``CHANNELID + slot`` and accepts one TCP client per slot; we are
that client. Connecting is inserting the card, closing is removing it. vpcd polls presence with
GET ATR several times a second, so GET ATR is answered from a pre-framed buffer and never empty.
When pcscd restarts the connection drops and the link reconnects with capped exponential backoff.

Latency (the reason this module sets socket options): Debian's vpcd writes each frame's 2-byte
length and its body with two ``send`` calls and leaves Nagle on. The body is therefore held back
until we ACK the length segment, and Linux delays that ACK (up to 40 ms) hoping to piggyback it on
a reply we cannot write before the body arrives. A naive peer thus pays ~40 ms per exchange
(≈ 20 APDU/s; a peer that also sends its own length and body apart pays it twice). We fix it on
our side: TCP_QUICKACK is re-armed after every ``recv`` (the kernel clears it on its own, and
setting it also flushes an ACK already pending), TCP_NODELAY is set, and every reply goes out as
one ``sendall`` of length + payload. Measured through pcscd 1.9.9 + Debian's vpcd on loopback
(``benchmarks/pcsc_path.py``): naive peer ≈ 100 ms per APDU, replies coalesced but no QUICKACK
≈ 47 ms (the vpcd split alone), both fixes ≈ 0.2 ms. ``ack_fix=False`` (and ``quickack=False``
alone) restore the slow behaviours so the benchmark can show them.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from typing import Callable, Iterable

from firmware_sim.device import Device
from protocols import vpcd
from protocols.errors import MalformedFrame, NoCard

log = logging.getLogger(__name__)

_RECV_SIZE = vpcd.MAX_PAYLOAD + vpcd.HEADER_LEN
_SW_NO_PRECISE_DIAGNOSIS = b"\x6f\x00"
_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def is_loopback(host: str) -> bool:
    """True if every IPv4 address ``host`` resolves to is a loopback address."""
    infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


class VpcdLink:
    """One device in one vpcd slot, served from a background thread (or ``run()`` in yours).

    ``remove_card()`` closes the connection and keeps it closed; ``insert_card()`` reconnects.
    """

    def __init__(
        self,
        device: Device,
        host: str = "127.0.0.1",
        port: int = vpcd.DEFAULT_PORT,
        *,
        ack_fix: bool = True,
        quickack: bool | None = None,
        allow_remote: bool = False,
        backoff: tuple[float, float] = (0.05, 1.0),
        connect_timeout: float = 2.0,
        on_status: Callable[[VpcdLink, OSError | None], None] | None = None,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"{host} is not a loopback address; pass allow_remote=True to use it")
        self.device = device
        self.host, self.port = host, port
        self.coalesce = ack_fix  # TCP_NODELAY and one write per reply
        self.quickack = ack_fix if quickack is None else quickack
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        # Told once when connecting starts to fail (with the error) and once when it works again (None); the
        # link keeps retrying, ``backoff`` apart, until stopped.
        self.on_status = on_status
        self._unreachable = False
        self.exchanges = 0  # replies sent (GET ATR and APDUs), for benchmarks and tests
        self.connections = 0  # successful TCP connects so far
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._inserted = threading.Event()
        self._inserted.set()
        self._serving = threading.Event()  # vpcd has sent something on the current connection
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    # -- control (any thread) --------------------------------------------------------------------
    def start(self) -> VpcdLink:
        """Run the link in a daemon thread; returns self."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name=f"vpcd-link:{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the connection (card removed) and end the thread."""
        self._stop.set()
        self._wake.set()
        self._hang_up()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def remove_card(self) -> None:
        """Close the connection and stay disconnected until ``insert_card()``."""
        self._inserted.clear()
        self._hang_up()

    def insert_card(self) -> None:
        """Connect again (after ``remove_card()``)."""
        self._inserted.set()
        self._wake.set()

    def wait_serving(self, timeout: float) -> bool:
        """Wait until vpcd has talked to us on the current connection (accepted the card)."""
        return self._serving.wait(timeout)

    @property
    def serving(self) -> bool:
        return self._serving.is_set()

    def __enter__(self) -> VpcdLink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        """Connect, serve until the connection drops, back off, repeat, until ``stop()``."""
        delay = self.backoff[0]
        while not self._stop.is_set():
            if not self._inserted.is_set():
                self._pause(None)
                continue
            sock = self._connect()
            if sock is None:
                self._pause(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            healthy = False
            try:
                self._serve(sock)
                healthy = self._serving.is_set()  # vpcd talked to us before closing: reconnect at once
            except OSError as exc:
                log.info("vpcd %s:%d: connection lost: %s", self.host, self.port, exc)
                healthy = self._serving.is_set()
            except Exception:  # a device bug must not kill the link thread
                log.exception("vpcd %s:%d: serving failed", self.host, self.port)
            finally:
                self._close()
                self.device.power_off()  # the card lost its contacts
            if healthy:
                delay = self.backoff[0]
            else:  # closed before any request, or the device failed: do not spin
                self._pause(delay)
                delay = min(delay * 2, self.backoff[1])

    def _pause(self, seconds: float | None) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            log.debug("vpcd %s:%d: connect failed: %s", self.host, self.port, exc)
            if not self._unreachable:
                self._unreachable = True
                self._tell(exc)
            return None
        if self._unreachable:
            self._unreachable = False
            self._tell(None)
        sock.settimeout(None)
        if self.coalesce:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._stop.is_set() or not self._inserted.is_set():
                sock.close()
                return None
            self._sock = sock
        self.connections += 1
        log.info("vpcd %s:%d: card inserted", self.host, self.port)
        return sock

    def _tell(self, error: OSError | None) -> None:
        if self.on_status is not None:
            try:
                self.on_status(self, error)
            except Exception:       # a reporting bug must not kill the link thread
                log.exception("vpcd %s:%d: status report failed", self.host, self.port)

    def _hang_up(self) -> None:
        """Any thread: end the current connection. Only shuts the socket down (which wakes the link
        thread's ``recv``); the link thread closes it, so no thread ever uses a closed descriptor."""
        with self._lock:
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _close(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
            self._serving.clear()
        if sock is not None:
            sock.close()

    def _serve(self, sock: socket.socket) -> None:
        decoder = vpcd.RequestDecoder()
        atr_frame = vpcd.encode_response(self.device.atr)
        quickack = self.quickack and _TCP_QUICKACK is not None
        while True:
            data = sock.recv(_RECV_SIZE)
            if not data:
                return
            if quickack:
                # Re-armed after every recv: ACK the length segment now so vpcd's Nagle-held body follows.
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)  # type: ignore[arg-type]  # not None here
            self._serving.set()
            for event in _decode(decoder, data):
                if isinstance(event, vpcd.GetAtr):
                    self._send(sock, atr_frame)
                elif isinstance(event, vpcd.Transmit):
                    self._send(sock, vpcd.encode_response(self._process(event.apdu)))
                elif isinstance(event, vpcd.PowerOn):
                    atr_frame = vpcd.encode_response(self.device.power_on())
                elif isinstance(event, vpcd.Reset):
                    atr_frame = vpcd.encode_response(self.device.reset())
                else:
                    self.device.power_off()

    def _send(self, sock: socket.socket, frame: bytes) -> None:
        if self.coalesce:
            sock.sendall(frame)  # one write: length and payload travel in one segment
        else:
            sock.sendall(frame[: vpcd.HEADER_LEN])
            sock.sendall(frame[vpcd.HEADER_LEN :])
        self.exchanges += 1

    def _process(self, apdu: bytes) -> bytes:
        try:
            response = self.device.process(apdu)
        except NoCard:  # the card left mid-command (fault injection): close the connection = card removed
            self._inserted.clear()
            raise ConnectionAbortedError("card removed during a command") from None
        except Exception:
            log.exception("vpcd %s:%d: device raised on %s", self.host, self.port, apdu.hex())
            return _SW_NO_PRECISE_DIAGNOSIS
        if not 2 <= len(response) <= vpcd.MAX_PAYLOAD:
            log.error("vpcd %s:%d: device gave a %d-byte response", self.host, self.port, len(response))
            return _SW_NO_PRECISE_DIAGNOSIS
        return response


def _decode(decoder: vpcd.RequestDecoder, data: bytes) -> list[vpcd.Event]:
    """Decode, logging and skipping malformed frames (vicc ignores unknown control codes too).
    The decoder keeps the events around a bad frame for the next ``feed``, so retry with no data."""
    while True:
        try:
            return decoder.feed(data)
        except MalformedFrame as exc:
            log.warning("vpcd: ignoring %s", exc)
            data = b""


def parse_endpoint(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``[HOST:]PORT`` → (host, port), as ``sscard emulate --vpcd`` takes it."""
    host, sep, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port, 10) < 0x10000:
        raise ValueError(f"bad vpcd endpoint {text!r}: expected [HOST:]PORT")
    return (host if sep and host else default_host), int(port, 10)


def serve_vpcd(
    devices: Iterable[Device],
    host: str = "127.0.0.1",
    port: int = vpcd.DEFAULT_PORT,
    stop: threading.Event | None = None,
    *,
    allow_remote: bool = False,
    on_status: Callable[[VpcdLink, OSError | None], None] | None = None,
) -> None:
    """Serve ``devices[i]`` in vpcd slot ``i`` (port ``port + i``) until ``stop`` is set or Ctrl-C.

    The first device (the card) lands in reader "… 00 00", the second (the PSAM) in "… 00 01". Nothing listening
    is no error: each link retries until stopped, and ``on_status`` hears when it cannot connect and when it can.
    """
    links = [VpcdLink(d, host, port + i, allow_remote=allow_remote, on_status=on_status)
             for i, d in enumerate(devices)]
    stop = stop or threading.Event()
    for link in links:
        link.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for link in links:
            link.stop()

