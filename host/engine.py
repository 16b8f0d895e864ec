"""The one APDU policy engine every backend uses (docs/peers.md §8 item 1, §10 item 1; ISO 7816-3 §12.2).

It validates each command before sending, fetches 61xx chains with GET RESPONSE, retries once with the
exact Le on 6Cxx, and reports every exchange to an optional tracer. Backends (``hardware/``) move raw
APDUs only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from host.pinpad import PadTemplate, run_pad
from host.reader import PinPad, Reader
from protocols.apdu import CommandAPDU, from_hex
from protocols.pinpad import PinRequest
from protocols.errors import ReaderError

TraceHook = Callable[[bytes, bytes, float], None]
MAX_GET_RESPONSE = 256  # guards against a card that answers 61xx for ever


@dataclass(frozen=True, slots=True)
class Response:
    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    def hex(self) -> str:
        return (self.data + self.sw.to_bytes(2, "big")).hex().upper()


class ApduEngine:
    """Sends APDUs to one reader slot with the case-handling policy applied."""

    def __init__(self, reader: Reader, trace: TraceHook | None = None) -> None:
        self.reader = reader
        self.trace = trace
        self.atr = b""

    def connect(self) -> bytes:
        self.atr = self.reader.connect()
        return self.atr

    def _exchange(self, apdu: bytes) -> bytes:
        t0 = time.perf_counter()
        rsp = self.reader.transmit(apdu)
        if len(rsp) < 2:
            raise ReaderError(f"{self.reader.name}: response of {len(rsp)} bytes has no status word")
        if self.trace is not None:
            self.trace(apdu, rsp, time.perf_counter() - t0)
        return rsp

    def transmit(self, command: bytes | CommandAPDU) -> Response:
        """Send one command; return the final data and status word after 61xx/6Cxx handling."""
        if isinstance(command, CommandAPDU):
            cmd, raw = command, command.to_bytes()
        else:
            raw = bytes(command)
            cmd = CommandAPDU.parse(raw)   # refuse to send what is not an APDU
        rsp = self._exchange(raw)
        sw1 = rsp[-2]
        if sw1 == 0x6C and cmd.le is not None and not cmd.extended:
            # Wrong Le: repeat the same command with the exact length the card asked for.
            raw = raw[:-1] + rsp[-1:]
            rsp = self._exchange(raw)
            sw1 = rsp[-2]
        data = rsp[:-2]
        rounds = 0
        while sw1 == 0x61:
            rounds += 1
            if rounds > MAX_GET_RESPONSE:
                raise ReaderError(f"{self.reader.name}: card keeps answering 61xx")
            rsp = self._exchange(bytes((0x00, 0xC0, 0x00, 0x00, rsp[-1])))
            data += rsp[:-2]
            sw1 = rsp[-2]
        return Response(data, (sw1 << 8) | rsp[-1])

    def pin_pad(self, pad: PinPad, request: PinRequest) -> Response:
        """A verify or modify typed on ``pad``: the card's answer (or the pad's own status word), traced with the
        template (``PadTemplate``: the host never has the PIN, docs/serial.md §5)."""
        t0 = time.perf_counter()
        rsp = run_pad(pad, request)
        if self.trace is not None:
            self.trace(PadTemplate(request.template), rsp, time.perf_counter() - t0)
        return Response(rsp[:-2], (rsp[-2] << 8) | rsp[-1])

    def send(self, hex_or_bytes: str | bytes) -> Response:
        """Convenience: send a hex string or bytes."""
        if isinstance(hex_or_bytes, str):
            hex_or_bytes = from_hex(hex_or_bytes)
        return self.transmit(hex_or_bytes)
