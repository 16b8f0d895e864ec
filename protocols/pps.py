"""Protocol and parameters selection (PPS): build, parse, check, and both sides' decisions.

Reference: docs/serial.md §1.5 (frame, PCK, success rule, byte vectors, card-side behaviour),
§1.4 (choosing Fi/Di a reader can clock). Sans-I/O.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import reduce

from protocols import atr as atr_mod
from protocols.errors import MalformedFrame, ProtocolError

PPSS = 0xFF


def pck(body: bytes) -> int:
    """PCK: XOR of every byte before it, so that the whole request XORs to 00."""
    return reduce(lambda a, b: a ^ b, body, 0)


@dataclass(frozen=True, slots=True)
class PPS:
    """A PPS request or response. ``pps1`` is the FI|DI byte (None: absent, meaning 11 in a response)."""

    protocol: int
    pps1: int | None = None
    pps2: int | None = None
    pps3: int | None = None

    def encode(self) -> bytes:
        if not 0 <= self.protocol <= 15:
            raise ValueError("protocol must be 0..15")
        pps0 = self.protocol
        tail = bytearray()
        for bit, v in ((0x10, self.pps1), (0x20, self.pps2), (0x40, self.pps3)):
            if v is not None:
                pps0 |= bit
                tail.append(v)
        body = bytes([PPSS, pps0]) + tail
        return body + bytes([pck(body)])

    @property
    def fidi(self) -> int:
        """The Fi/Di this PPS settles on: PPS1, or the default 11 when PPS1 is absent."""
        return atr_mod.DEFAULT_FIDI if self.pps1 is None else self.pps1

    @classmethod
    def parse(cls, data: bytes) -> PPS:
        """Decode a complete PPS; ``MalformedFrame`` on a wrong PPSS, b8 of PPS0 set, wrong length or PCK."""
        n = pps_length(data)
        if n is None or len(data) != n:
            raise MalformedFrame(f"PPS has the wrong length: {data.hex(' ')}")
        if pck(data) != 0:
            raise MalformedFrame(f"PPS check byte wrong: {data.hex(' ')}")
        pps0 = data[1]
        pos, vals = 2, list[int | None]()
        for bit in (0x10, 0x20, 0x40):
            if pps0 & bit:
                vals.append(data[pos])
                pos += 1
            else:
                vals.append(None)
        return cls(pps0 & 0x0F, *vals)


def pps_length(prefix: bytes) -> int | None:
    """Total length of a PPS whose first bytes are ``prefix`` (None until PPS0 has arrived)."""
    if not prefix:
        return None
    if prefix[0] != PPSS:
        raise MalformedFrame(f"PPSS {prefix[0]:02X} is not FF")
    if len(prefix) < 2:
        return None
    pps0 = prefix[1]
    if pps0 & 0x80:
        raise MalformedFrame(f"PPS0 {pps0:02X} has b8 set")
    return 3 + bin(pps0 & 0x70).count("1")


def check_response(request: PPS, response: bytes) -> PPS:
    """Host side: check the card's answer to ``request`` (§1.5 "success"). Returns the settled PPS; raises
    ``ProtocolError`` when the answer is malformed, longer than the request, or changes T or PPS1."""
    try:
        got = PPS.parse(response)
    except MalformedFrame as exc:
        raise ProtocolError(f"bad PPS response: {exc}") from exc
    if got.protocol != request.protocol:
        raise ProtocolError(f"PPS response selects T={got.protocol}, asked T={request.protocol}")
    if got.pps1 is not None and got.pps1 != request.pps1:
        raise ProtocolError(f"PPS response PPS1 {got.pps1:02X} differs from the request")
    if (got.pps2 is not None and got.pps2 != request.pps2) or (got.pps3 is not None and got.pps3 != request.pps3):
        raise ProtocolError("PPS response PPS2/PPS3 differ from the request")
    return got


# --- decisions ------------------------------------------------------------------------------------------------
def card_accepts_fidi(requested: int, offered: int) -> bool:
    """The simulated card's rule: Fi equal to TA1's, and Di not above TA1's (slower speeds are fine)."""
    if not atr_mod.fidi_valid(requested):
        return False
    if requested == atr_mod.DEFAULT_FIDI:
        return True
    return atr_mod.fi_of(requested) == atr_mod.fi_of(offered) and atr_mod.di_of(requested) <= atr_mod.di_of(offered)


def card_response(request: bytes, card_atr: atr_mod.ATR) -> bytes | None:
    """Card side (§1.5, simtrace2 behaviour): the bytes the card answers to a PPS request, or None for silence
    (malformed request, protocol not offered, or specific mode). An acceptable PPS1 is echoed; otherwise
    PPS1 is left out, which settles on the default 11."""
    try:
        req = PPS.parse(request)
    except MalformedFrame:
        return None
    if card_atr.specific_mode or req.protocol not in card_atr.protocols:
        return None
    pps1 = req.pps1 if req.pps1 is not None and card_accepts_fidi(req.pps1, card_atr.fidi) else None
    return PPS(req.protocol, pps1).encode()


def candidate_fidis(card_fidi: int) -> list[int]:
    """Fi/Di values to try for a card offering ``card_fidi``, fastest first: the card's Fi with its Di and every
    smaller Di, ending with the default 11."""
    if not atr_mod.fidi_valid(card_fidi):
        return [atr_mod.DEFAULT_FIDI]
    fi_nib = card_fidi & 0xF0
    dmax = atr_mod.di_of(card_fidi)
    out = sorted((fi_nib | d for d, v in atr_mod.DI_TABLE.items() if v <= dmax), key=lambda x: -atr_mod.di_of(x))
    if atr_mod.DEFAULT_FIDI not in out:
        out.append(atr_mod.DEFAULT_FIDI)
    return out


def choose_fidi(card_fidi: int, reader_ok: Callable[[int], bool]) -> int:
    """The fastest Fi/Di both the card (TA1 and below) and the reader (``reader_ok``) support."""
    for fidi in candidate_fidis(card_fidi):
        if reader_ok(fidi):
            return fidi
    return atr_mod.DEFAULT_FIDI


def reader_rate_check(clock_hz: float, max_rate: float, rates: Iterable[float] | None = None,
                      tolerance: float = 0.02) -> Callable[[int], bool]:
    """A ``reader_ok`` predicate for a reader clocking the card at ``clock_hz`` up to ``max_rate`` bit/s,
    optionally limited to a list of supported ``rates`` (within ``tolerance``)."""
    rate_list = list(rates) if rates is not None else None

    def ok(fidi: int) -> bool:
        if not atr_mod.fidi_valid(fidi):
            return False
        r = atr_mod.bit_rate(fidi, clock_hz)
        if r > max_rate * (1 + 1e-9):
            return False
        if rate_list is None or fidi == atr_mod.DEFAULT_FIDI:
            return True
        return any(abs(r - x) <= x * tolerance for x in rate_list)

    return ok


def host_request(card_atr: atr_mod.ATR, protocol: int, reader_ok: Callable[[int], bool]) -> PPS | None:
    """Host side (§1.5 "when"): the PPS to send after this ATR to run ``protocol`` at the fastest common speed,
    or None when no PPS is needed (defaults wanted) or allowed (specific mode)."""
    if card_atr.specific_mode:
        return None
    if protocol not in card_atr.protocols:
        raise ProtocolError(f"card does not offer T={protocol}")
    fidi = choose_fidi(card_atr.fidi, reader_ok)
    if fidi == atr_mod.DEFAULT_FIDI and protocol == card_atr.default_protocol:
        return None
    return PPS(protocol, fidi if fidi != atr_mod.DEFAULT_FIDI else None)
