"""T=1: the block codec (LRC and CRC), and the host and card state machines (chaining both ways, IFS, WTX,
RESYNCH, retransmission and recovery).

Reference: docs/serial.md §1.7.1 (layout, NAD, PCB table), §1.7.2 (EDC), §1.7.3 (worked
blocks), §1.7.4 (IFS, sequence numbers, chaining, WTX), §1.7.6 (recovery rules as CCID applies them, and the
R, R, RESYNCH ×3, DEAD sequence a card must survive). Sans-I/O: blocks in, blocks out. The card machine calls
``process(apdu) -> response`` when a complete command has arrived; nothing here sleeps or reads a clock.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import reduce

from protocols.errors import MalformedFrame, ProtocolError

RESYNCH, IFS, ABORT, WTX, VPP_ERROR = 0, 1, 2, 3, 4
ERR_NONE, ERR_EDC, ERR_OTHER = 0, 1, 2
MAX_INF = 254


# --- EDC (§1.7.2) ------------------------------------------------------------------------------------------------
def lrc(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """Reflected CRC-16/CCITT (polynomial 8408), initial FFFF, no final XOR, as CCID computes it."""
    c = 0xFFFF
    for b in data:
        c = (c >> 8) ^ _CRC_TABLE[(c ^ b) & 0xFF]
    return c


def edc(data: bytes, crc: bool) -> bytes:
    """The epilogue for ``data`` (prologue ‖ INF): one LRC byte, or two CRC bytes high byte first."""
    return crc16(data).to_bytes(2, "big") if crc else bytes([lrc(data)])


def swap_nibbles(b: int) -> int:
    return ((b << 4) | (b >> 4)) & 0xFF


# --- blocks (§1.7.1) ------------------------------------------------------------------------------------------------
class Kind(Enum):
    I = "I"  # noqa: E741  (ISO/IEC 7816-3 names the block kinds I, R and S)
    R = "R"
    S = "S"


class BlockError(MalformedFrame):
    """An invalid block. ``edc`` is True for an EDC error (answered with R(EDC error)), False for any other."""

    def __init__(self, message: str, *, edc: bool = False) -> None:
        super().__init__(message)
        self.edc = edc


@dataclass(frozen=True, slots=True)
class Block:
    nad: int
    pcb: int
    inf: bytes = b""

    # -- constructors ----------------------------------------------------------------------------------------
    @classmethod
    def i(cls, ns: int, inf: bytes, more: bool = False, nad: int = 0) -> Block:
        return cls(nad, (ns & 1) << 6 | (0x20 if more else 0), bytes(inf))

    @classmethod
    def r(cls, nr: int, error: int = ERR_NONE, nad: int = 0) -> Block:
        return cls(nad, 0x80 | (nr & 1) << 4 | error)

    @classmethod
    def s(cls, stype: int, response: bool = False, inf: bytes = b"", nad: int = 0) -> Block:
        return cls(nad, 0xC0 | (0x20 if response else 0) | stype, bytes(inf))

    # -- fields ----------------------------------------------------------------------------------------------
    @property
    def kind(self) -> Kind:
        if not self.pcb & 0x80:
            return Kind.I
        return Kind.R if not self.pcb & 0x40 else Kind.S

    @property
    def ns(self) -> int:
        return (self.pcb >> 6) & 1

    @property
    def more(self) -> bool:
        return bool(self.pcb & 0x20)

    @property
    def nr(self) -> int:
        return (self.pcb >> 4) & 1

    @property
    def error(self) -> int:
        return self.pcb & 0x0F

    @property
    def stype(self) -> int:
        return self.pcb & 0x1F

    @property
    def is_response(self) -> bool:
        return bool(self.pcb & 0x20)

    def encode(self, crc: bool = False) -> bytes:
        if len(self.inf) > MAX_INF:
            raise ValueError(f"INF of {len(self.inf)} bytes exceeds {MAX_INF}")
        body = bytes([self.nad, self.pcb, len(self.inf)]) + self.inf
        return body + edc(body, crc)

    def __str__(self) -> str:  # for traces and test failures
        if self.kind is Kind.I:
            return f"I({self.ns}{', M' if self.more else ''}) {self.inf.hex(' ')}"
        if self.kind is Kind.R:
            return f"R({self.nr}, err {self.error})"
        name = {RESYNCH: "RESYNCH", IFS: "IFS", ABORT: "ABORT", WTX: "WTX", VPP_ERROR: "VPP"}.get(self.stype, "?")
        return f"S({name} {'resp' if self.is_response else 'req'}) {self.inf.hex(' ')}"


def block_length(prefix: bytes, crc: bool = False) -> int | None:
    """Total length of the block starting with ``prefix`` once LEN has arrived (LEN FF is returned as if 0 so
    that a reader stops reading; decode then rejects it)."""
    if len(prefix) < 3:
        return None
    n = prefix[2] if prefix[2] != 0xFF else 0
    return 3 + n + (2 if crc else 1)


def decode(raw: bytes, crc: bool = False) -> Block:
    """Decode and check one block; ``BlockError`` (edc=True for a bad EDC) for anything invalid (§1.7.6)."""
    e = 2 if crc else 1
    if len(raw) < 3 + e:
        raise BlockError(f"block too short: {raw.hex(' ')}")
    if raw[2] == 0xFF:
        raise BlockError("LEN FF is invalid")
    if len(raw) != 3 + raw[2] + e:
        raise BlockError(f"LEN {raw[2]} does not match {len(raw) - 3 - e} INF bytes")
    if edc(raw[:-e], crc) != raw[-e:]:
        raise BlockError("EDC error", edc=True)
    blk = Block(raw[0], raw[1], bytes(raw[3:-e]))
    if blk.kind is Kind.I:
        if blk.pcb & 0x1F:
            raise BlockError(f"I-block PCB {blk.pcb:02X} has RFU bits set")
    elif blk.kind is Kind.R:
        if blk.inf or blk.pcb & 0x20 or blk.error > ERR_OTHER:
            raise BlockError(f"invalid R-block PCB {blk.pcb:02X} LEN {len(blk.inf)}")
    else:
        t = blk.stype
        if t > VPP_ERROR or (t == VPP_ERROR and not blk.is_response):
            raise BlockError(f"unknown S-block type {blk.pcb:02X}")
        if t in (IFS, WTX):
            if len(blk.inf) != 1 or (t == IFS and blk.inf[0] in (0x00, 0xFF)):
                raise BlockError(f"S-block {blk.pcb:02X} with bad INF {blk.inf.hex()}")
        elif blk.inf:
            raise BlockError(f"S-block {blk.pcb:02X} must not carry INF")
    return blk


def split(data: bytes, size: int) -> list[bytes]:
    """Chunks of at most ``size`` bytes (one empty chunk for empty data)."""
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


# --- host machine (§1.7.4, §1.7.6) ------------------------------------------------------------------------------------
@dataclass
class T1Step:
    """The host's next move: transmit ``send`` (if not None) and, unless ``done``, wait for the card's block with
    the waiting time multiplied by ``wtx`` (S(WTX) granted for this one block)."""

    send: bytes | None = None
    done: bool = False
    response: bytes | None = None
    wtx: int = 1


class T1Host:
    """The reader/host side of T=1. ``begin(apdu)`` or ``begin_ifs(n)`` return the first block to send; each block
    from the card (or None when nothing valid came in time) goes to ``receive``. A block is tried ``retries`` (3)
    times in all (so two R-blocks follow a first failure, as CCID does), then it resynchronises; after 3 failed
    S(RESYNCH) it is DEAD and raises ``ProtocolError`` until ``reset`` (§1.7.6)."""

    def __init__(self, *, ifsc: int = 32, ifsd: int = 32, crc: bool = False, nad: int = 0,
                 retries: int = 3, resynchs: int = 3) -> None:
        self.ifsc, self.ifsd, self.crc, self.nad = ifsc, ifsd, crc, nad
        self.max_retries, self.max_resynchs = retries, resynchs
        self.reset()

    def reset(self) -> None:
        """After a card reset: N(S) = N(R) = 0, not dead, no exchange in progress."""
        self.ns = self.nr = 0
        self.dead = False
        self._mode: str | None = None
        self._last: Block | None = None
        self.stats = {"retransmits": 0, "resynchs": 0}

    # -- starting -----------------------------------------------------------------------------------------------
    def begin(self, apdu: bytes) -> bytes:
        self._check_alive()
        self._mode, self._apdu = "apdu", bytes(apdu)
        self._start_fresh()
        return self._restart()

    def abandon(self) -> None:
        """Forget the exchange begun (its first block was never sent: a PIN pad reader that was to send it timed out
        or was cancelled, docs/serial.md §5); N(S) and N(R) stay as they were."""
        self._mode = None

    def begin_ifs(self, ifsd: int) -> bytes:
        """Announce IFSD with S(IFS request) (§1.7.4: CCID sends 254)."""
        if not 1 <= ifsd <= MAX_INF:
            raise ValueError("IFSD must be 1..254")
        self._check_alive()
        self._mode, self._ifs = "ifs", ifsd
        self._start_fresh()
        return self._restart()

    def _start_fresh(self) -> None:
        self._retries = 0
        self._resynch_tries = 0
        self._resyncing = False

    def _restart(self) -> bytes:
        self._rx = bytearray()
        if self._mode == "ifs":
            return self._send(Block.s(IFS, False, bytes([self._ifs]), self.nad))
        self._chunks = split(self._apdu, self.ifsc)
        self._idx = 0
        self._sending = True
        return self._send_chunk()

    def _send_chunk(self) -> bytes:
        more = self._idx < len(self._chunks) - 1
        return self._send(Block.i(self.ns, self._chunks[self._idx], more, self.nad))

    def _send(self, blk: Block) -> bytes:
        self._last = blk
        return blk.encode(self.crc)

    def _check_alive(self) -> None:
        if self.dead:
            raise ProtocolError("T=1 state machine is DEAD; reset the card first")

    # -- receiving ----------------------------------------------------------------------------------------------
    def receive(self, raw: bytes | None) -> T1Step:
        self._check_alive()
        if self._mode is None:
            raise ProtocolError("no T=1 exchange in progress")
        if raw is None:
            return self._error(edc=False)
        try:
            blk = decode(raw, self.crc)
        except BlockError as exc:
            return self._error(edc=exc.edc)
        if blk.nad != swap_nibbles(self.nad):
            return self._error(edc=False)
        if self._resyncing:
            if blk.kind is Kind.S and blk.stype == RESYNCH and blk.is_response:
                self.ns = self.nr = 0
                self._resyncing = False
                self._retries = 0
                self.stats["resynchs"] += 1
                return T1Step(send=self._restart())
            return self._error(edc=False)
        if blk.kind is Kind.I:
            return self._on_i(blk)
        if blk.kind is Kind.R:
            return self._on_r(blk)
        return self._on_s(blk)

    def _on_i(self, blk: Block) -> T1Step:
        if self._mode != "apdu" or (self._sending and self._idx < len(self._chunks) - 1):
            return self._error(edc=False)
        if blk.ns != self.nr:
            return self._error(edc=False)
        if self._sending:  # the card's I-block acknowledges our last one
            self.ns ^= 1
            self._sending = False
        self.nr ^= 1
        self._retries = 0
        self._rx += blk.inf
        if blk.more:
            return T1Step(send=self._send(Block.r(self.nr, ERR_NONE, self.nad)))
        self._mode = None
        return T1Step(done=True, response=bytes(self._rx))

    def _on_r(self, blk: Block) -> T1Step:
        if self._mode == "apdu" and self._sending:
            if blk.nr != self.ns:
                if self._idx < len(self._chunks) - 1:  # chaining acknowledged: next block
                    self.ns ^= 1
                    self._idx += 1
                    self._retries = 0
                    return T1Step(send=self._send_chunk())
                return self._resync()  # "the ICC shouldn't be asking for more"
            return self._retransmit()
        return self._retransmit()

    def _on_s(self, blk: Block) -> T1Step:
        if not blk.is_response:
            if blk.stype == WTX:
                return T1Step(send=self._send(Block.s(WTX, True, blk.inf, self.nad)), wtx=max(1, blk.inf[0]))
            if blk.stype == IFS:
                self.ifsc = blk.inf[0]
                if self._mode == "apdu" and self._sending:  # re-split what is not yet acknowledged
                    rest = b"".join(self._chunks[self._idx:])
                    self._chunks = self._chunks[:self._idx] + split(rest, self.ifsc)
                    # the unacknowledged block is resent at the new size when the card asks for it
                return T1Step(send=self._send(Block.s(IFS, True, blk.inf, self.nad)))
            return self._resync()  # RESYNCH or ABORT request from the card, or VPP error
        if self._mode == "ifs" and blk.stype == IFS and blk.inf == bytes([self._ifs]):
            self.ifsd = self._ifs
            self._mode = None
            return T1Step(done=True, response=b"")
        return self._error(edc=False)

    # -- recovery -------------------------------------------------------------------------------------------------
    def _retransmit(self) -> T1Step:
        self._retries += 1
        if self._retries >= self.max_retries:
            return self._resync()
        self.stats["retransmits"] += 1
        assert self._last is not None
        if self._last.kind is Kind.I and self._mode == "apdu":
            return T1Step(send=self._send_chunk())  # same N(S), possibly re-split after S(IFS)
        return T1Step(send=self._send(self._last))

    def _error(self, *, edc: bool) -> T1Step:
        if self._resyncing:
            return self._resync()
        self._retries += 1
        if self._retries >= self.max_retries:
            return self._resync()
        self.stats["retransmits"] += 1
        assert self._last is not None
        if self._last.kind is Kind.R or (self._last.kind is Kind.S and not self._last.is_response):
            return T1Step(send=self._send(self._last))  # Rules 7.2, 7.3
        return T1Step(send=self._send(Block.r(self.nr, ERR_EDC if edc else ERR_OTHER, self.nad)))  # Rule 7.1

    def _resync(self) -> T1Step:
        if self._resynch_tries >= self.max_resynchs:
            self.dead = True
            self._mode = None
            raise ProtocolError("T=1 state machine is DEAD after 3 failed resynchronisations")
        self._resynch_tries += 1
        self._resyncing = True
        return T1Step(send=self._send(Block.s(RESYNCH, False, b"", self.nad)))


# --- card machine ----------------------------------------------------------------------------------------------------
class T1Card:
    """The card side of T=1 around an APDU-level ``process``. It never gives up: invalid blocks get an R-block
    (or the last R-block again), repeated blocks get the last answer again, RESYNCH resets the sequence numbers.
    ``wtx`` > 0 makes it ask S(WTX request, wtx) before every response, to exercise hosts."""

    def __init__(self, process: Callable[[bytes], bytes], *, ifsc: int = 254, ifsd: int = 32,
                 crc: bool = False, nad: int = 0, wtx: int = 0) -> None:
        self._process = process
        self.ifsc, self.ifsd, self.crc, self.nad, self.wtx = ifsc, ifsd, crc, nad, wtx
        self.reset()

    def reset(self) -> None:
        self.ns = self.nr = 0
        self._rx = bytearray()
        self._chunks: list[bytes] = []
        self._idx = 0
        self._last: Block | None = None
        self._await_implicit_ack = False
        self._pending: bytes | None = None

    def _send(self, blk: Block) -> bytes:
        self._last = blk
        return blk.encode(self.crc)

    def _send_chunk(self) -> bytes:
        more = self._idx < len(self._chunks) - 1
        return self._send(Block.i(self.ns, self._chunks[self._idx], more, swap_nibbles(self.nad)))

    def _invalid(self, edc: bool) -> bytes:
        if self._last is not None and (self._last.kind is Kind.R or
                                       (self._last.kind is Kind.S and not self._last.is_response)):
            return self._send(self._last)
        return self._send(Block.r(self.nr, ERR_EDC if edc else ERR_OTHER, swap_nibbles(self.nad)))

    def receive(self, raw: bytes) -> bytes:
        """One block (possibly damaged) from the reader -> the block the card answers."""
        try:
            blk = decode(raw, self.crc)
        except BlockError as exc:
            return self._invalid(exc.edc)
        if blk.nad != self.nad:
            return self._invalid(False)
        if blk.kind is Kind.I:
            return self._on_i(blk)
        if blk.kind is Kind.R:
            return self._on_r(blk)
        return self._on_s(blk)

    def _on_i(self, blk: Block) -> bytes:
        if len(blk.inf) > self.ifsc:
            return self._invalid(False)
        sending_chain = self._last is not None and self._last.kind is Kind.I and self._last.more
        if blk.ns != self.nr:
            if self._last is not None:
                return self._send(self._last)  # a repeat of a block already taken: say again what we said
            return self._invalid(False)
        if sending_chain:
            return self._invalid(False)
        if self._await_implicit_ack:
            self.ns ^= 1
            self._await_implicit_ack = False
        self._chunks = []
        self.nr ^= 1
        self._rx += blk.inf
        if blk.more:
            return self._send(Block.r(self.nr, ERR_NONE, swap_nibbles(self.nad)))
        apdu, self._rx = bytes(self._rx), bytearray()
        resp = self._process(apdu)
        if self.wtx:
            self._pending = resp
            return self._send(Block.s(WTX, False, bytes([self.wtx]), swap_nibbles(self.nad)))
        return self._respond(resp)

    def _respond(self, resp: bytes) -> bytes:
        self._chunks = split(resp, self.ifsd)
        self._idx = 0
        self._await_implicit_ack = True
        return self._send_chunk()

    def _on_r(self, blk: Block) -> bytes:
        last = self._last
        if last is None:
            return self._invalid(False)
        if last.kind is Kind.I:
            if blk.nr != last.ns and last.more:  # chaining acknowledged
                self.ns ^= 1
                self._idx += 1
                return self._send_chunk()
            return self._send(last)
        return self._send(last)

    def _on_s(self, blk: Block) -> bytes:
        if blk.is_response:
            if blk.stype == WTX and self._pending is not None:
                resp, self._pending = self._pending, None
                return self._respond(resp)
            return self._invalid(False)
        if blk.stype == RESYNCH:
            self.reset()
            return self._send(Block.s(RESYNCH, True, b"", swap_nibbles(self.nad)))
        if blk.stype == IFS:
            self.ifsd = blk.inf[0]
            return self._send(Block.s(IFS, True, blk.inf, swap_nibbles(self.nad)))
        if blk.stype == ABORT:
            self._rx, self._chunks = bytearray(), []
            return self._send(Block.s(ABORT, True, b"", swap_nibbles(self.nad)))
        return self._invalid(False)
