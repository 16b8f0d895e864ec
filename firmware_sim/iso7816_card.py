"""The card's ISO 7816-3 side around an APDU-level ``Device``: ATR on reset, PPS responder, T=0 and T=1.

Reference: docs/serial.md §1.1 (reset, ATR), §1.5 (card side of PPS: decide on the first byte
after the ATR, echo, switch after PCK), §1.6 (T=0 card side), §1.7 (T=1 card side). The engine sees the I/O
line as a character stream: ``feed(bytes) -> bytes`` returns what the card sends back; ``line_idle()`` tells
it the reader stopped sending (character waiting time passed). No clock, no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from firmware_sim.device import Device
from protocols import atr as atr_mod
from protocols import pps, t0, t1
from protocols.errors import MalformedFrame


@dataclass(frozen=True)
class LinkProfile:
    """What the card offers on its contacts, applied to the ``Device``'s historical bytes. ``None`` for the
    ATR fields keeps the device's own ATR byte for byte."""

    offer: atr_mod.Offer | None = None
    t0: t0.T0CardOptions = field(default_factory=t0.T0CardOptions)
    wtx: int = 0  # T=1: ask S(WTX request, wtx) before each response (0 = never)
    pps_mute: bool = False  # never answer a PPS request (a card that cannot do PPS)

    @classmethod
    def t0_only(cls, fidi: int | None = None, **kw: Any) -> LinkProfile:
        return cls(atr_mod.Offer(protocols=(0,), fidi=fidi, tb1=0, tc1=0), **kw)

    @classmethod
    def t1(cls, fidi: int | None = None, *, crc: bool = False, ifsc: int = 254, also_t0: bool = False,
           **kw: Any) -> LinkProfile:
        protos = (1, 0) if also_t0 else (1,)
        return cls(atr_mod.Offer(protocols=protos, fidi=fidi, tb1=0, tc1=0, crc=crc, ifsc=ifsc),
                   **kw)


class Phase(Enum):
    OFF = 0
    AFTER_ATR = 1   # PPS still possible
    PPS = 2         # collecting a PPS request
    T0 = 3
    T1 = 4
    MUTE = 5        # PPS failed: the card stays silent until reset


class Iso7816Card:
    """One card on its contacts. Call ``cold_reset``/``warm_reset`` to get the ATR, then ``feed`` characters."""

    def __init__(self, device: Device, profile: LinkProfile | None = None) -> None:
        self.device = device
        self.profile = profile or LinkProfile()
        self.phase = Phase.OFF
        self.protocol = 0
        self.fidi = atr_mod.DEFAULT_FIDI
        self._buf = bytearray()
        self._atr: atr_mod.ATR | None = None
        self._t0: t0.T0Card | None = None
        self._t1: t1.T1Card | None = None

    # -- activation ----------------------------------------------------------------------------------------
    def _answer(self, device_atr: bytes) -> bytes:
        offer = self.profile.offer
        raw = device_atr if offer is None else atr_mod.make(offer, atr_mod.parse(device_atr, strict=False).historical)
        self._atr = atr_mod.parse(raw)
        self.phase = Phase.AFTER_ATR
        specific = self._atr.specific_protocol   # not None exactly in specific mode
        self.protocol = specific if specific is not None else self._atr.default_protocol
        self.fidi = self._atr.fidi if self._atr.specific_mode and not self._atr.implicit_parameters \
            else atr_mod.DEFAULT_FIDI
        self._buf.clear()
        self._t0 = self._t1 = None
        return raw

    def cold_reset(self) -> bytes:
        return self._answer(self.device.power_on())

    def warm_reset(self) -> bytes:
        return self._answer(self.device.reset())

    def deactivate(self) -> None:
        if self.phase is not Phase.OFF:
            self.device.power_off()
        self.phase = Phase.OFF
        self._buf.clear()

    @property
    def atr(self) -> atr_mod.ATR | None:
        return self._atr

    @property
    def active(self) -> bool:
        return self.phase is not Phase.OFF

    # -- the I/O line ----------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        """Characters from the reader -> characters the card sends (possibly none)."""
        if self.phase in (Phase.OFF, Phase.MUTE) or not data:
            return b""
        if self.phase is Phase.AFTER_ATR:
            if data[0] == pps.PPSS:
                self.phase = Phase.PPS
            else:
                self._start_protocol()
        if self.phase is Phase.PPS:
            return self._feed_pps(data)
        if self.phase is Phase.T0:
            assert self._t0 is not None
            return self._t0.feed(data)
        return self._feed_t1(data)

    def line_idle(self) -> bytes:
        """The reader stopped sending: an unfinished T=1 block is invalid (R-block); a partial PPS is dropped."""
        if self.phase is Phase.PPS and self._buf:
            self._buf.clear()
            self.phase = Phase.MUTE
            return b""
        if self.phase is Phase.T1 and self._buf:
            raw, self._buf = bytes(self._buf), bytearray()
            assert self._t1 is not None
            return self._t1.receive(raw)  # decodes as invalid: R-block
        return b""

    def _start_protocol(self) -> None:
        assert self._atr is not None
        if self.protocol == 0:
            self.phase = Phase.T0
            self._t0 = t0.T0Card(self.device.process, self.profile.t0)
        else:
            self.phase = Phase.T1
            self._t1 = t1.T1Card(self._t1_process, ifsc=self._atr.ifsc, crc=self._atr.crc, wtx=self.profile.wtx)

    def _t1_process(self, apdu: bytes) -> bytes:
        """Run a command; a slow card (``take_wtx``, firmware_sim.device_faults) gets S(WTX) before its answer."""
        rsp = self.device.process(apdu)
        take_wtx = getattr(self.device, "take_wtx", None)
        if take_wtx is not None and self._t1 is not None:
            self._t1.wtx = take_wtx() or self.profile.wtx
        return rsp

    def _feed_pps(self, data: bytes) -> bytes:
        self._buf += data
        try:
            n = pps.pps_length(bytes(self._buf))
        except MalformedFrame:
            self._buf.clear()
            self.phase = Phase.MUTE
            return b""
        if n is None or len(self._buf) < n:
            return b""
        request, rest = bytes(self._buf[:n]), bytes(self._buf[n:])
        self._buf.clear()
        assert self._atr is not None
        answer = None if self.profile.pps_mute else pps.card_response(request, self._atr)
        if answer is None:
            self.phase = Phase.MUTE
            return b""
        settled = pps.PPS.parse(answer)
        self.protocol, self.fidi = settled.protocol, settled.fidi
        self._start_protocol()
        return answer + (self.feed(rest) if rest else b"")

    def _feed_t1(self, data: bytes) -> bytes:
        assert self._t1 is not None
        self._buf += data
        n = t1.block_length(bytes(self._buf), self._t1.crc)
        if n is None or len(self._buf) < n:
            return b""
        block = bytes(self._buf[:n])
        self._buf.clear()  # half duplex: whatever follows a complete block is lost while the card answers
        return self._t1.receive(block)
