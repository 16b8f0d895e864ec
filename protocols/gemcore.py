"""GemCore / GemPC Twin serial framing of CCID messages: ``03 06 <message> LRC``, NAK ``03 15 16``.

Reference: docs/serial.md §2.2.1 (frame, NAK, asynchronous bytes 50 xx and >= 80 from the
reader, echo of the GemPC Twin), §2.2.4 (byte example). Sans-I/O: ``feed(bytes) -> events``; the policy (NAK on
a bad frame, resend on NAK) belongs to whoever holds the decoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from protocols import ccid

SYNC, ACK, NAK = 0x03, 0x06, 0x15
NAK_FRAME = bytes([SYNC, NAK, SYNC ^ NAK])
NOTIFY_SLOT_CHANGE = 0x50


def lrc(data: bytes | bytearray) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def encode(message: bytes) -> bytes:
    """Frame one encoded CCID message."""
    body = bytes([SYNC, ACK]) + message
    return body + bytes([lrc(body)])


def frame_length(message_len: int) -> int:
    return 2 + message_len + 1


# --- events ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    """A good frame; ``message`` is the CCID message inside (decode with ``protocols.ccid.decode``)."""

    message: bytes


@dataclass(frozen=True)
class Nak:
    """The peer did not get our last frame: send it again."""


@dataclass(frozen=True)
class BadFrame:
    """Bytes that do not make a good frame (wrong LRC, wrong control byte, impossible length, stray bytes)."""

    reason: str


@dataclass(frozen=True)
class SlotChangeNotice:
    """Reader -> host ``50 xx``: card movement (xx = bmSlotICCState)."""

    state: int


@dataclass(frozen=True)
class TimeRequest:
    """Reader -> host byte >= 80: the card asked for more time (T=0); keep waiting."""

    value: int


Event = Frame | Nak | BadFrame | SlotChangeNotice | TimeRequest


class Decoder:
    """Byte stream -> events. ``from_reader`` enables the reader's asynchronous bytes (50 xx, >= 80).

    After a bad candidate frame the decoder rescans from the byte after its SYNC, so a good frame that follows
    garbage is still found. Only the first bad frame of a run is reported, so one burst of noise costs one NAK;
    a run ends at a good frame, when the buffered bytes are used up, or at ``flush``.
    ``expect_echo(frame)`` drops the next frame if it equals ``frame`` (GemPC Twin echo)."""

    def __init__(self, *, from_reader: bool, max_data: int = ccid.MAX_DATA) -> None:
        self.from_reader = from_reader
        self.max_data = max_data
        self._buf = bytearray()
        self._bad_reported = False
        self._echo: bytes | None = None

    @property
    def pending(self) -> bool:
        """True while bytes of an unfinished frame are buffered."""
        return bool(self._buf)

    def expect_echo(self, frame: bytes) -> None:
        self._echo = bytes(frame)

    def reset(self) -> None:
        """Forget buffered bytes (and any expected echo)."""
        self._buf.clear()
        self._echo = None
        self._bad_reported = False

    def _bad(self, out: list[Event], reason: str) -> None:
        del self._buf[0]
        if not self._bad_reported:
            out.append(BadFrame(reason))
            self._bad_reported = True

    def _good(self, out: list[Event], ev: Event, n: int, *, resets: bool = True) -> None:
        del self._buf[:n]
        if resets:  # asynchronous bytes inside noise do not end a bad run
            self._bad_reported = False
        out.append(ev)

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        return self._end_run(self._parse(final=False))

    def flush(self) -> list[Event]:
        """The line went quiet: a partial frame will not be completed. Report it bad and rescan what follows."""
        out = self._parse(final=True)
        self._bad_reported = False
        return out

    def _end_run(self, out: list[Event]) -> list[Event]:
        if not self._buf:  # a burst of noise ends with the bytes that carried it
            self._bad_reported = False
        return out

    def _parse(self, *, final: bool) -> list[Event]:
        out: list[Event] = []
        while self._buf:
            buf = self._buf
            b0 = buf[0]
            if b0 == SYNC:
                if len(buf) < 2:
                    if final:
                        self._bad(out, "lone SYNC")
                        continue
                    break
                b1 = buf[1]
                if b1 == NAK:
                    if len(buf) < 3:
                        if final:
                            self._bad(out, "truncated NAK")
                            continue
                        break
                    if buf[2] == SYNC ^ NAK:
                        self._good(out, Nak(), 3)
                    else:
                        self._bad(out, f"NAK with LRC {buf[2]:02X}")
                    continue
                if b1 != ACK:
                    self._bad(out, f"control byte {b1:02X}")
                    continue
                if len(buf) < 7:
                    if final:
                        self._bad(out, "truncated header")
                        continue
                    break
                n = int.from_bytes(buf[3:7], "little")
                if n > self.max_data:
                    self._bad(out, f"impossible length {n}")
                    continue
                total = frame_length(ccid.HEADER_LEN + n)
                if len(buf) < total:
                    if final:
                        self._bad(out, "truncated frame")
                        continue
                    break
                if lrc(buf[:total]) != 0:
                    self._bad(out, "wrong LRC")
                    continue
                frame = bytes(buf[:total])
                if self._echo is not None and frame == self._echo:
                    self._echo = None
                    del self._buf[:total]
                    continue
                self._good(out, Frame(frame[2:-1]), total)
                continue
            if self.from_reader and b0 == NOTIFY_SLOT_CHANGE:
                if len(buf) < 2:
                    if final:
                        self._bad(out, "truncated slot change")
                        continue
                    break
                self._good(out, SlotChangeNotice(buf[1]), 2, resets=False)
                continue
            if self.from_reader and b0 >= 0x80:
                self._good(out, TimeRequest(b0), 1, resets=False)
                continue
            self._bad(out, f"stray byte {b0:02X}")
        return out
