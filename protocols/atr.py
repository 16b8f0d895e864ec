"""Answer to reset: parse, build, TCK, conventions, Fi/Di tables and timing units.

Reference: docs/serial.md §1.1 (ATR timing), §1.2 (convention), §1.3 (structure, interface
bytes, worked vectors), §1.4 (Fi/Di, etu, UART speeds), §1.6.2/§1.7.5 (WT, BWT, CWT). Sans-I/O: bytes in,
values out. Used by the host driver (choosing protocol and speed) and by the simulated card (building its ATR).
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import reduce

from protocols.errors import MalformedFrame

# --- Fi/Di tables (§1.4) -------------------------------------------------------------------------------------
#: FI index -> (Fi, f max in Hz); indexes 7, 8, E, F are RFU.
FI_TABLE: dict[int, tuple[int, int]] = {
    0x0: (372, 4_000_000), 0x1: (372, 5_000_000), 0x2: (558, 6_000_000), 0x3: (744, 8_000_000),
    0x4: (1116, 12_000_000), 0x5: (1488, 16_000_000), 0x6: (1860, 20_000_000),
    0x9: (512, 5_000_000), 0xA: (768, 7_500_000), 0xB: (1024, 10_000_000), 0xC: (1536, 15_000_000),
    0xD: (2048, 20_000_000),
}
#: DI index -> Di; indexes 0 and A-F are RFU.
DI_TABLE: dict[int, int] = {0x1: 1, 0x2: 2, 0x3: 4, 0x4: 8, 0x5: 16, 0x6: 32, 0x7: 64, 0x8: 12, 0x9: 20}

DEFAULT_FIDI = 0x11
MAX_ATR_LENGTH = 33
INITIAL_WAITING_ETU = 9600  # §1.1: max distance between ATR characters


def fi_of(fidi: int) -> int:
    """Fi for the FI nibble (high nibble) of a TA1/PPS1 byte; ``ValueError`` for RFU values."""
    try:
        return FI_TABLE[fidi >> 4][0]
    except KeyError:
        raise ValueError(f"FI {fidi >> 4:X} is RFU") from None


def di_of(fidi: int) -> int:
    """Di for the DI nibble (low nibble) of a TA1/PPS1 byte; ``ValueError`` for RFU values."""
    try:
        return DI_TABLE[fidi & 0x0F]
    except KeyError:
        raise ValueError(f"DI {fidi & 0x0F:X} is RFU") from None


def fidi_valid(fidi: int) -> bool:
    return (fidi >> 4) in FI_TABLE and (fidi & 0x0F) in DI_TABLE


def etu_seconds(fidi: int, clock_hz: float) -> float:
    """One elementary time unit, F / (D·f) seconds (§1.4)."""
    return fi_of(fidi) / (di_of(fidi) * clock_hz)


def bit_rate(fidi: int, clock_hz: float) -> float:
    """Bits per second on the card line for these Fi/Di at clock f: f·D/F (§1.2, §1.4)."""
    return clock_hz * di_of(fidi) / fi_of(fidi)


def character_etu(protocol: int, tc1: int = 0) -> int:
    """Minimum distance between two characters in one direction, in etu (§1.2)."""
    if tc1 == 255:
        return 11 if protocol == 1 else 12
    return 12 + tc1


def wt_etu(wi: int, fidi: int) -> int:
    """T=0 waiting time in etu: WI × 960 × Di (§1.4, §1.6.2)."""
    return wi * 960 * di_of(fidi)


def bwt_seconds(bwi: int, fidi: int, clock_hz: float) -> float:
    """T=1 block waiting time: 11 etu + 2^BWI × 960 × 372 / f (§1.7.5)."""
    return 11 * etu_seconds(fidi, clock_hz) + (1 << bwi) * 960 * 372 / clock_hz


def cwt_etu(cwi: int) -> int:
    """T=1 character waiting time in etu: 11 + 2^CWI (§1.7.5)."""
    return 11 + (1 << cwi)


# --- convention (§1.2) ---------------------------------------------------------------------------------------
class Convention(Enum):
    DIRECT = 0x3B
    INVERSE = 0x3F


def _inverse(b: int) -> int:
    rev = int(f"{b:08b}"[::-1], 2)
    return rev ^ 0xFF


#: Byte as read by a direct-convention UART -> byte value in the inverse convention (and back: an involution).
INVERSE_LUT = bytes(_inverse(b) for b in range(256))


def inverse_convert(data: bytes) -> bytes:
    """Convert bytes between direct-decoded line values and inverse-convention values (bit reverse + NOT)."""
    return data.translate(INVERSE_LUT)


def tck(body: bytes) -> int:
    """The check byte for ``body`` = T0..last historical byte: XOR of them all (§1.3)."""
    return reduce(lambda a, b: a ^ b, body, 0)


# --- structure ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InterfaceGroup:
    """TAi TBi TCi TDi of group ``index`` (1-based). ``protocol`` is the T the group's bytes belong to: 'global'
    (None) for group 1, else the T announced by TD(i-1). ``td_protocol`` is the T this group's TD announces."""

    index: int
    protocol: int | None
    ta: int | None = None
    tb: int | None = None
    tc: int | None = None
    td: int | None = None

    @property
    def td_protocol(self) -> int | None:
        return None if self.td is None else self.td & 0x0F


@dataclass(frozen=True)
class ATR:
    """A parsed answer to reset. ``raw`` is in the direct-decoded form with TS = 3B or 3F."""

    raw: bytes
    convention: Convention
    groups: tuple[InterfaceGroup, ...]
    historical: bytes
    tck: int | None

    # -- protocol offers -----------------------------------------------------------------------------------
    @property
    def protocols(self) -> tuple[int, ...]:
        """Protocols the card offers (T=15 excluded), in order; the first is the default. Only T=0 without TD1."""
        seen: list[int] = []
        for g in self.groups:
            t = g.td_protocol
            if t is not None and t != 15 and t not in seen:
                seen.append(t)
        return tuple(seen) or (0,)

    @property
    def default_protocol(self) -> int:
        return self.protocols[0]

    def _group(self, i: int) -> InterfaceGroup | None:
        return self.groups[i - 1] if len(self.groups) >= i else None

    # -- global bytes --------------------------------------------------------------------------------------
    @property
    def ta1(self) -> int | None:
        g = self._group(1)
        return g.ta if g else None

    @property
    def fidi(self) -> int:
        """The maximum Fi/Di the card offers (TA1, default 11)."""
        return DEFAULT_FIDI if self.ta1 is None else self.ta1

    @property
    def extra_guard_time(self) -> int:
        """TC1 = N (0 if absent; 255 = minimum character distance)."""
        g = self._group(1)
        return 0 if g is None or g.tc is None else g.tc

    @property
    def ta2(self) -> int | None:
        g = self._group(2)
        return g.ta if g else None

    @property
    def specific_mode(self) -> bool:
        """TA2 present: the card runs in specific mode, no PPS (§1.5)."""
        return self.ta2 is not None

    @property
    def specific_protocol(self) -> int | None:
        return None if self.ta2 is None else self.ta2 & 0x0F

    @property
    def implicit_parameters(self) -> bool:
        """TA2 b5 = 1: the specific-mode parameters are implicit, not TA1's (CCID refuses these)."""
        return self.ta2 is not None and bool(self.ta2 & 0x10)

    @property
    def wi(self) -> int:
        """TC2 = WI for T=0 (default 10)."""
        g = self._group(2)
        return 10 if g is None or g.tc is None or g.protocol != 0 else g.tc

    # -- T=1 specific bytes (first TA/TB/TC in groups i >= 3 that belong to T=1) -------------------------
    def _t1_byte(self, name: str) -> int | None:
        for g in self.groups[2:]:
            value: int | None = getattr(g, name)
            if g.protocol == 1 and value is not None:
                return value
        return None

    @property
    def ifsc(self) -> int:
        """IFSC from the first TA(i >= 3) for T=1 (default 32; 00 and FF are invalid and rejected by parse)."""
        v = self._t1_byte("ta")
        return 32 if v is None else v

    @property
    def bwi_cwi(self) -> int:
        v = self._t1_byte("tb")
        return 0x4D if v is None else v

    @property
    def bwi(self) -> int:
        return self.bwi_cwi >> 4

    @property
    def cwi(self) -> int:
        return self.bwi_cwi & 0x0F

    @property
    def crc(self) -> bool:
        """TC(i >= 3) for T=1, b1: True when the EDC is CRC, False for LRC."""
        v = self._t1_byte("tc")
        return bool(v is not None and v & 1)


def _interface_count(y: int) -> int:
    return bin(y & 0xF).count("1")


def atr_length(prefix: bytes) -> int | None:
    """Total ATR length implied by ``prefix`` (direct-decoded, TS first), or None while more bytes are needed
    to know it. Lets a reader read byte by byte and stop exactly at the end (§1.3 "parser robustness")."""
    if len(prefix) < 2:
        return None
    pos, y = 2, prefix[1] >> 4
    k = prefix[1] & 0x0F
    need_tck = False
    while True:
        n = _interface_count(y)
        if not y & 0x8:  # no TD in this group
            end = pos + n
            break
        td_pos = pos + n - 1
        if len(prefix) <= td_pos:
            return None
        td = prefix[td_pos]
        if td & 0x0F != 0:
            need_tck = True
        pos, y = td_pos + 1, td >> 4
    return end + k + (1 if need_tck else 0)


def parse(data: bytes, *, strict: bool = True) -> ATR:
    """Parse an ATR. TS 3F is the inverse convention as transmitted; TS 03 is an inverse-convention ATR read
    by a direct UART and is converted. Raises ``MalformedFrame`` when truncated, the TCK is wrong, TS is unknown,
    or an interface byte is invalid. With ``strict=False`` trailing bytes after the ATR are ignored (§1.3)."""
    if not data:
        raise MalformedFrame("empty ATR")
    if data[0] == 0x03:  # inverse convention seen through a direct decoder
        data = inverse_convert(data)
    if data[0] == 0x3B:
        conv = Convention.DIRECT
    elif data[0] == 0x3F:
        conv = Convention.INVERSE
    else:
        raise MalformedFrame(f"ATR TS {data[0]:02X} is neither 3B nor 3F")
    total = atr_length(data)
    if total is None or len(data) < total:
        raise MalformedFrame(f"ATR truncated: {data.hex(' ')}")
    if total > MAX_ATR_LENGTH:
        raise MalformedFrame(f"ATR of {total} bytes exceeds {MAX_ATR_LENGTH}")
    if strict and len(data) > total:
        raise MalformedFrame(f"{len(data) - total} bytes after the ATR")
    raw = bytes(data[:total])
    groups: list[InterfaceGroup] = []
    pos, y, index, proto = 2, raw[1] >> 4, 1, None
    need_tck = False
    while True:
        vals: dict[str, int | None] = {"ta": None, "tb": None, "tc": None, "td": None}
        for bit, name in ((0x1, "ta"), (0x2, "tb"), (0x4, "tc"), (0x8, "td")):
            if y & bit:
                vals[name] = raw[pos]
                pos += 1
        groups.append(InterfaceGroup(index, proto, **vals))
        td = vals["td"]
        if td is None:
            break
        if td & 0x0F:
            need_tck = True
        proto, y, index = td & 0x0F, td >> 4, index + 1
    k = raw[1] & 0x0F
    historical = raw[pos:pos + k]
    check = None
    if need_tck:
        check = raw[-1]
        if tck(raw[1:]) != 0:
            raise MalformedFrame(f"ATR TCK {check:02X} wrong (expected {tck(raw[1:-1]):02X})")
    atr = ATR(raw, conv, tuple(groups), bytes(historical), check)
    if atr.ta1 is not None and not fidi_valid(atr.ta1):
        raise MalformedFrame(f"TA1 {atr.ta1:02X} uses RFU Fi/Di")
    v = atr._t1_byte("ta")
    if v is not None and v in (0x00, 0xFF):
        raise MalformedFrame(f"IFSC {v:02X} is invalid")
    return atr


# --- building -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Group:
    """One interface-byte group to build. ``t`` is the protocol this group's TD announces (None: no TD). A TD is
    forced whenever another group follows."""

    ta: int | None = None
    tb: int | None = None
    tc: int | None = None
    t: int | None = None


def build(groups: Sequence[Group], historical: bytes, *, convention: Convention = Convention.DIRECT) -> bytes:
    """Encode an ATR from interface groups and historical bytes; appends TCK when a TD announces T != 0."""
    if len(historical) > 15:
        raise ValueError("at most 15 historical bytes")

    def flags(g: Group, has_td: bool) -> int:
        return (0x1 if g.ta is not None else 0) | (0x2 if g.tb is not None else 0) | \
               (0x4 if g.tc is not None else 0) | (0x8 if has_td else 0)

    gs = list(groups) or [Group()]
    tds = [g.t is not None or i + 1 < len(gs) for i, g in enumerate(gs)]
    out = bytearray([convention.value, (flags(gs[0], tds[0]) << 4) | len(historical)])
    need_tck = False
    for i, g in enumerate(gs):
        for v in (g.ta, g.tb, g.tc):
            if v is not None:
                out.append(v & 0xFF)
        if tds[i]:
            t = g.t if g.t is not None else 0
            nxt = flags(gs[i + 1], tds[i + 1]) if i + 1 < len(gs) else 0
            out.append((nxt << 4) | t)
            need_tck |= t != 0
    out += historical
    if need_tck:
        out.append(tck(bytes(out[1:])))
    if len(out) > MAX_ATR_LENGTH:
        raise ValueError(f"ATR of {len(out)} bytes exceeds {MAX_ATR_LENGTH}")
    return bytes(out)


@dataclass(frozen=True)
class Offer:
    """What a card offers on its contacts, the input of :func:`make`. ``protocols`` lists offered T in order of
    preference (the first is the default); T=1 parameters are emitted only when T=1 is offered."""

    protocols: tuple[int, ...] = (0,)
    fidi: int | None = None           # TA1 (None: absent = 11)
    tb1: int | None = None
    tc1: int | None = None            # extra guard time
    specific: bool = False            # TA2 = first protocol (specific mode)
    wi: int | None = None             # TC2 (T=0 only)
    ifsc: int = 254
    bwi_cwi: int = 0x45
    crc: bool = False


def make(offer: Offer, historical: bytes) -> bytes:
    """Build the ATR for an :class:`Offer` (used by the simulated card; vectors in §1.3).

    Group 1 holds TA1/TB1/TC1 and TD1 announces the default protocol; group 2 holds TA2/TC2; the T=1 bytes
    (IFSC, BWI/CWI, EDC) go in the first group i >= 3 that follows a TD announcing T=1."""
    protos = list(offer.protocols)
    if not protos:
        raise ValueError("offer at least one protocol")
    ta2 = protos[0] if offer.specific else None
    tc2 = offer.wi if protos[0] == 0 else None
    if protos == [0] and ta2 is None and tc2 is None:
        return build([Group(ta=offer.fidi, tb=offer.tb1, tc=offer.tc1)], historical)
    announce = protos[1:]
    if protos[0] == 1:
        announce.insert(0, 1)  # TD2 announces T=1 again so the T=1 bytes land in group 3
    groups = [Group(ta=offer.fidi, tb=offer.tb1, tc=offer.tc1, t=protos[0]),
              Group(ta=ta2, tc=tc2, t=announce[0] if announce else None)]
    t1_done = False
    for k, t in enumerate(announce):
        nxt = announce[k + 1] if k + 1 < len(announce) else None
        if t == 1 and not t1_done:
            groups.append(Group(ta=offer.ifsc, tb=offer.bwi_cwi, tc=1 if offer.crc else None, t=nxt))
            t1_done = True
        else:
            groups.append(Group(t=nxt))
    # drop empty trailing groups that carry nothing and announce nothing
    while len(groups) > 1 and groups[-1] == Group():
        groups.pop()
    return build(groups, historical)


@functools.lru_cache(maxsize=256)   # called for every key a card derives; ATRs repeat
def _historical_cached(raw: bytes) -> bytes:
    try:
        return parse(raw, strict=False).historical
    except ValueError:
        return raw[4:]


def historical_bytes(raw: bytes) -> bytes:
    """The historical bytes of an ATR, leniently (what iReadCardBas reports, docs/sources.md §4.8); the whole ATR
    minus its first 4 bytes if it cannot be parsed at all."""
    return _historical_cached(bytes(raw))
