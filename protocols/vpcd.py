"""vpcd ⇄ virtual ICC wire protocol, sans I/O (docs/peers.md §2.6).

Every message, both ways, is a 2-byte big-endian length followed by that many payload bytes
(at most 0xFFFF). vpcd always speaks first. A one-byte payload is a control code (00 power off,
01 power on, 02 warm reset, 04 get ATR); any other payload is a command APDU. The card answers
GET ATR and APDUs with one frame each, and nothing else. An empty answer makes vpcd eject the
card, so the encoders refuse to build one.

``RequestDecoder`` is the card's side (bytes from vpcd → events); ``FrameDecoder`` alone is the
vpcd side (bytes from the card → response payloads). Nothing here touches a socket.
"""
from __future__ import annotations

from dataclasses import dataclass

from protocols.errors import MalformedFrame

DEFAULT_PORT = 0x8C7B  # 35963; slot n of one reader.conf entry listens on DEFAULT_PORT + n
MAX_PAYLOAD = 0xFFFF
HEADER_LEN = 2

CTRL_POWER_OFF = 0x00
CTRL_POWER_ON = 0x01
CTRL_RESET = 0x02
CTRL_GET_ATR = 0x04


@dataclass(frozen=True)
class PowerOff:
    """Control 00: deactivate the card. No answer."""


@dataclass(frozen=True)
class PowerOn:
    """Control 01: cold reset. No answer (vpcd follows with GET ATR)."""


@dataclass(frozen=True)
class Reset:
    """Control 02: warm reset. No answer (vpcd follows with GET ATR)."""


@dataclass(frozen=True)
class GetAtr:
    """Control 04: answer with the ATR. Also vpcd's presence poll, so it is the hot path."""


@dataclass(frozen=True)
class Transmit:
    """A command APDU (any payload that is not one byte long); answer with the response APDU."""

    apdu: bytes


Event = PowerOff | PowerOn | Reset | GetAtr | Transmit

_CONTROLS: dict[int, Event] = {
    CTRL_POWER_OFF: PowerOff(),
    CTRL_POWER_ON: PowerOn(),
    CTRL_RESET: Reset(),
    CTRL_GET_ATR: GetAtr(),
}


def needs_reply(event: Event) -> bool:
    """True for the requests the card must answer (GET ATR and APDUs)."""
    return isinstance(event, (GetAtr, Transmit))


def encode_frame(payload: bytes) -> bytes:
    """Length-prefix one payload. The result is meant for a single ``sendall`` (see hardware.vpcd_link)."""
    if len(payload) > MAX_PAYLOAD:
        raise MalformedFrame(f"vpcd payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return len(payload).to_bytes(HEADER_LEN, "big") + payload


def encode_response(payload: bytes) -> bytes:
    """Frame an ATR or a response APDU. Empty payloads are refused: vpcd reads them as card removal."""
    if not payload:
        raise MalformedFrame("empty vpcd response (vpcd would treat the card as removed)")
    return encode_frame(payload)


def encode_control(code: int) -> bytes:
    """Frame a control request (vpcd's side; used by tests and fake vpcd peers)."""
    if code not in _CONTROLS:
        raise MalformedFrame(f"unknown vpcd control code {code:#04x}")
    return encode_frame(bytes([code]))


def encode_apdu(apdu: bytes) -> bytes:
    """Frame a command APDU (vpcd's side). One-byte APDUs cannot exist on this wire."""
    if len(apdu) < 2:
        raise MalformedFrame(f"a {len(apdu)}-byte APDU cannot be sent over vpcd (min 2 bytes)")
    return encode_frame(apdu)


class FrameDecoder:
    """Reassemble length-prefixed frames from arbitrary chunks of a byte stream."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a whole frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every frame payload now complete, in order."""
        self._buf += data
        frames: list[bytes] = []
        while len(self._buf) >= HEADER_LEN:
            size = int.from_bytes(self._buf[:HEADER_LEN], "big")
            end = HEADER_LEN + size
            if len(self._buf) < end:
                break
            frames.append(bytes(self._buf[HEADER_LEN:end]))
            del self._buf[:end]
        return frames


class RequestDecoder:
    """The card's side: bytes from vpcd in, ``Event`` objects out.

    A malformed frame (length 0, or an unknown one-byte control code) raises ``MalformedFrame``
    after being consumed; the stream stays in sync (the length prefix is never ambiguous), events
    decoded before it in the same call are returned by the next ``feed`` call (``feed(b"")``
    drains them), and the frames after it stay buffered.
    """

    def __init__(self) -> None:
        self._frames = FrameDecoder()
        self._pending: list[bytes] = []
        self._ready: list[Event] = []

    def feed(self, data: bytes) -> list[Event]:
        """Add received bytes; return the complete requests in order."""
        self._pending += self._frames.feed(data)
        while self._pending:
            payload = self._pending.pop(0)
            self._ready.append(self._classify(payload))  # may raise; _ready keeps earlier events
        events, self._ready = self._ready, []
        return events

    @staticmethod
    def _classify(payload: bytes) -> Event:
        if len(payload) == 1:
            event = _CONTROLS.get(payload[0])
            if event is None:
                raise MalformedFrame(f"unknown vpcd control code {payload[0]:#04x}")
            return event
        if not payload:
            raise MalformedFrame("empty vpcd request frame (length 0)")
        return Transmit(payload)
