"""T=0: APDU→TPDU mapping, the reader's procedure-byte machine, the card's side, and the 61xx/6Cxx policy.

Reference: docs/serial.md §1.6.1 (TPDU, procedure bytes table), §1.6.3 (APDU cases, GET
RESPONSE, 6Cxx), §1.6.4 (host at character level), §1.6.5 (do not take NULL for SW1), §1.5 of the card side
in simtrace2 terms. Sans-I/O: bytes in, bytes out; the process callback of the card side is a pure function.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from protocols.apdu import CommandAPDU
from protocols.errors import MalformedApdu, MalformedFrame, ProtocolError

NULL = 0x60
GET_RESPONSE = 0xC0


def is_sw1(b: int) -> bool:
    """6X (X != 0) and 9X are status bytes; 60 is NULL."""
    return (b & 0xF0 in (0x60, 0x90)) and b != NULL


def valid_ins(ins: int) -> bool:
    """INS 6X and 9X are invalid in T=0: they would read as status bytes (§1.6.1)."""
    return ins & 0xF0 not in (0x60, 0x90)


# --- APDU -> TPDU (§1.6.3) -------------------------------------------------------------------------------------
def apdu_to_tpdu(apdu: bytes) -> bytes:
    """Map a short command APDU onto the T=0 TPDU: case 1 gets P3 = 00, case 2 and 3 go as they are, case 4
    drops Le (the data then comes back through 61xx / GET RESPONSE). Extended length raises ``MalformedApdu``."""
    cmd = CommandAPDU.parse(apdu)
    if cmd.extended:
        raise MalformedApdu("extended-length APDUs cannot be sent as a T=0 TPDU")
    if not valid_ins(cmd.ins):
        raise MalformedApdu(f"INS {cmd.ins:02X} is invalid in T=0")
    if cmd.case == 1:
        return bytes(apdu[:4]) + b"\x00"
    if cmd.case == 4:
        return bytes(apdu[:-1])
    return bytes(apdu)


def transceive(apdu: bytes, send_tpdu: Callable[[bytes], bytes], *, get_response_cla: int | None = 0x00,
               max_rounds: int = 64) -> bytes:
    """The complete T=0 APDU policy (§1.6.3), for callers that want it here: send the TPDU, resend with P3 = xx on
    6Cxx, fetch 61xx with GET RESPONSE (CLA ``get_response_cla``, or the command's CLA when None) until the card
    stops asking, and concatenate the data. ``send_tpdu`` returns data ‖ SW of one TPDU."""
    cmd = CommandAPDU.parse(apdu)
    tpdu = apdu_to_tpdu(apdu)
    cla = cmd.cla if get_response_cla is None else get_response_cla
    resp = send_tpdu(tpdu)
    rounds = 0
    if len(resp) >= 2 and resp[-2] == 0x6C and cmd.case in (2, 4) and len(tpdu) == 5:
        tpdu = tpdu[:4] + resp[-1:]
        resp = send_tpdu(tpdu)
    data = b""
    while len(resp) >= 2 and resp[-2] == 0x61:
        rounds += 1
        if rounds > max_rounds:
            raise ProtocolError("too many 61xx rounds")
        data += resp[:-2]
        resp = send_tpdu(bytes([cla, GET_RESPONSE, 0, 0, resp[-1]]))
        if len(resp) >= 2 and resp[-2] == 0x6C:
            resp = send_tpdu(bytes([cla, GET_RESPONSE, 0, 0, resp[-1]]))
    return data + resp


# --- the reader's procedure-byte machine (§1.6.1, §1.6.4) ------------------------------------------------------
class _Phase(Enum):
    PROCEDURE = 1
    SW2 = 2
    RX = 3
    DONE = 4


@dataclass
class T0ReaderStep:
    """What the reader must do after feeding card bytes: send ``send`` to the card, and if ``done`` the exchange
    is over with ``response`` (data ‖ SW1 SW2). ``nulls`` counts NULL bytes seen (each restarts WT)."""

    send: bytes = b""
    done: bool = False
    response: bytes = b""
    nulls: int = 0


class T0Reader:
    """One TPDU exchange seen from the reader: header out, procedure bytes in, data both ways.

    A 5-byte TPDU is outgoing (P3 = Le, 00 meaning 256) or case 1: the card decides by ACK or SW1. A longer
    TPDU carries P3 data bytes to the card."""

    def __init__(self, tpdu: bytes) -> None:
        if len(tpdu) < 5:
            raise MalformedApdu("a T=0 TPDU has at least 5 bytes")
        p3 = tpdu[4]
        if len(tpdu) not in (5, 5 + p3) or (len(tpdu) > 5 and p3 == 0):
            raise MalformedApdu(f"TPDU length {len(tpdu)} does not match P3 {p3}")
        if not valid_ins(tpdu[1]):
            raise MalformedApdu(f"INS {tpdu[1]:02X} is invalid in T=0")
        self.header = bytes(tpdu[:5])
        self.ins = tpdu[1]
        self.incoming = len(tpdu) > 5
        self._to_send = bytes(tpdu[5:])
        self._expect = 0 if self.incoming else (p3 or 256)
        self._received = bytearray()
        self._rx_left = 0
        self._sw1 = 0
        self._phase = _Phase.PROCEDURE

    def start(self) -> bytes:
        """The bytes to send first: the 5-byte header."""
        return self.header

    @property
    def done(self) -> bool:
        return self._phase is _Phase.DONE

    def feed(self, data: bytes) -> T0ReaderStep:
        """Consume bytes from the card. Raises ``ProtocolError`` for an unknown procedure byte, data beyond what
        was announced, or bytes after SW2."""
        step = T0ReaderStep()
        out = bytearray()
        for b in data:
            if self._phase is _Phase.DONE:
                raise ProtocolError(f"card sent {b:02X} after the status word")
            if self._phase is _Phase.RX:
                self._received.append(b)
                self._rx_left -= 1
                if self._rx_left == 0:
                    self._phase = _Phase.PROCEDURE
                continue
            if self._phase is _Phase.SW2:
                step.done, step.response = True, bytes(self._received) + bytes([self._sw1, b])
                self._phase = _Phase.DONE
                continue
            # procedure byte
            if b == NULL:
                step.nulls += 1
            elif is_sw1(b):
                self._sw1, self._phase = b, _Phase.SW2
            elif b == self.ins:
                out += self._ack(all_bytes=True)
            elif b == self.ins ^ 0xFF:
                out += self._ack(all_bytes=False)
            else:
                raise ProtocolError(f"unrecognised procedure byte {b:02X} for INS {self.ins:02X}")
        step.send = bytes(out)
        return step

    def _ack(self, *, all_bytes: bool) -> bytes:
        if self.incoming:
            if not self._to_send:
                raise ProtocolError("card acknowledged but no data is left to send")
            n = len(self._to_send) if all_bytes else 1
            chunk, self._to_send = self._to_send[:n], self._to_send[n:]
            return chunk
        left = self._expect - len(self._received)
        if left <= 0:
            raise ProtocolError("card acknowledged but all expected data has arrived")
        self._rx_left = left if all_bytes else 1
        self._phase = _Phase.RX
        return b""


# --- the card's side ----------------------------------------------------------------------------------------------
class Direction(Enum):
    """How the card reads P3 for a given instruction."""

    OUTGOING = 1   # P3 = Le: the card sends data (case 2)
    INCOMING = 2   # P3 = Lc: the reader sends data (case 3/4), or nothing when P3 = 0 (case 1)


#: Instructions whose P3 is Le (case 2): READ BINARY/RECORD, GET RESPONSE/CHALLENGE/DATA, GET BALANCE, STATUS.
OUTGOING_INS = frozenset({0xB0, 0xB1, 0xB2, 0xB3, 0xC0, 0xCA, 0xCB, 0x84, 0x5C, 0xF2, 0x12})


def default_direction(cla: int, ins: int, p1: int, p2: int) -> Direction:
    return Direction.OUTGOING if ins in OUTGOING_INS else Direction.INCOMING


@dataclass
class T0CardOptions:
    """Behaviour knobs of the card side, to exercise readers: NULL bytes sent before each procedure byte or
    status, and single-byte ACKs (INS ⊕ FF) instead of one ACK for all data."""

    nulls: int = 0
    single_byte_acks: bool = False
    direction: Callable[[int, int, int, int], Direction] = field(default=default_direction)


class T0Card:
    """Card-side T=0 at character level around an APDU-level ``process`` (data ‖ SW out).

    Header intake, ACK / INS⊕FF / NULL generation, 6Cxx for a wrong Le (the response is kept, so the repeated
    command is not executed twice), and 61xx with GET RESPONSE served from the kept response."""

    def __init__(self, process: Callable[[bytes], bytes], options: T0CardOptions | None = None) -> None:
        self._process = process
        self.options = options or T0CardOptions()
        self.reset()

    def reset(self) -> None:
        self._buf = bytearray()
        self._header: bytes | None = None
        self._need = 0
        self._pending: tuple[bytes, bytes] | None = None       # (data, sw) waiting for GET RESPONSE
        self._wrong_le: tuple[bytes, bytes] | None = None      # (header without P3, response) after 6Cxx

    # -- helpers -----------------------------------------------------------------------------------------
    def _nulls(self) -> bytes:
        return bytes([NULL]) * self.options.nulls

    def _send_data(self, ins: int, data: bytes) -> bytes:
        if self.options.single_byte_acks:
            return b"".join(bytes([ins ^ 0xFF, b]) for b in data)
        return bytes([ins]) + data

    @staticmethod
    def _split(resp: bytes) -> tuple[bytes, bytes]:
        if len(resp) < 2:
            return b"", b"\x6F\x00"
        return bytes(resp[:-2]), bytes(resp[-2:])

    # -- input ---------------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        """Consume characters from the reader; return the characters the card sends."""
        out = bytearray()
        for b in data:
            self._buf.append(b)
            if self._header is None:
                if len(self._buf) == 5:
                    self._header = bytes(self._buf)
                    self._buf.clear()
                    out += self._on_header(self._header)
            elif len(self._buf) == self._need:
                body = bytes(self._buf)
                self._buf.clear()
                out += self._on_incoming(self._header, body)
            elif self.options.single_byte_acks:
                out += bytes([self._header[1] ^ 0xFF])
        return bytes(out)

    def _on_header(self, h: bytes) -> bytes:
        cla, ins, p1, p2, p3 = h
        if not valid_ins(ins):
            self._header = None
            return self._nulls() + b"\x6D\x00"
        if ins == GET_RESPONSE and self._pending is not None:
            self._header = None
            return self._get_response(h)
        self._pending = None
        if self.options.direction(cla, ins, p1, p2) is Direction.OUTGOING:
            self._header = None
            return self._outgoing(h)
        self._wrong_le = None
        if p3 == 0:
            self._header = None
            return self._answer_incoming(self._process(h[:4]))
        self._need = p3
        return self._nulls() + (bytes([ins ^ 0xFF]) if self.options.single_byte_acks else bytes([ins]))

    def _on_incoming(self, h: bytes, body: bytes) -> bytes:
        self._header = None
        return self._answer_incoming(self._process(h + body))

    def _answer_incoming(self, resp: bytes) -> bytes:
        data, sw = self._split(resp)
        if data:
            self._pending = (data, sw)
            return self._nulls() + bytes([0x61, len(data) & 0xFF if len(data) < 256 else 0])
        return self._nulls() + sw

    def _outgoing(self, h: bytes) -> bytes:
        le = h[4] or 256
        if self._wrong_le is not None and self._wrong_le[0] == h[:4]:
            resp = self._wrong_le[1]
        else:
            resp = self._process(h)
        self._wrong_le = None
        data, sw = self._split(resp)
        if not data:
            return self._nulls() + sw
        if len(data) != le:
            self._wrong_le = (h[:4], resp)
            return self._nulls() + bytes([0x6C, len(data) & 0xFF])
        return self._nulls() + self._send_data(h[1], data) + sw

    def _get_response(self, h: bytes) -> bytes:
        assert self._pending is not None
        data, sw = self._pending
        le = h[4] or 256
        if le > len(data):
            return self._nulls() + bytes([0x6C, len(data) & 0xFF])
        chunk, rest = data[:le], data[le:]
        if rest:
            self._pending = (rest, sw)
            status = bytes([0x61, len(rest) & 0xFF if len(rest) < 256 else 0])
        else:
            self._pending = None
            status = sw
        return self._nulls() + self._send_data(h[1], chunk) + status


def check_tpdu(tpdu: bytes) -> None:
    """Raise ``MalformedFrame`` unless ``tpdu`` is a well-formed T=0 TPDU (header, and P3 data bytes if any)."""
    if len(tpdu) < 5 or len(tpdu) not in (5, 5 + tpdu[4]):
        raise MalformedFrame(f"not a T=0 TPDU: {tpdu.hex(' ')}")
