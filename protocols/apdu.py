"""Command and response APDUs, ISO/IEC 7816-4 §5.1 (cases 1–4, short and extended length).

``CommandAPDU.parse`` is strict: every malformed byte string raises ``MalformedApdu`` with the
reason, so the card OS can map it to 6700 and the host can refuse to send it.
"""
from __future__ import annotations

from dataclasses import dataclass

from protocols.errors import MalformedApdu

SHORT_MAX = 256
EXTENDED_MAX = 65536


@dataclass(frozen=True, slots=True)
class CommandAPDU:
    """A command APDU. ``le`` is None when absent; Le = 00 (short) is 256, 0000 (extended) 65536."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    extended: bool = False

    @property
    def case(self) -> int:
        """ISO 7816-3 §12.1.2 case: 1 no data no Le, 2 Le only, 3 data only, 4 both."""
        if self.data:
            return 4 if self.le is not None else 3
        return 2 if self.le is not None else 1

    def to_bytes(self) -> bytes:
        """Encode; short form unless a field needs extended length or ``extended`` is set."""
        head = bytes((self.cla, self.ins, self.p1, self.p2))
        lc = len(self.data)
        if not 0 <= lc < EXTENDED_MAX:
            raise MalformedApdu(f"data of {lc} bytes does not fit an APDU")
        if self.le is not None and not 1 <= self.le <= EXTENDED_MAX:
            raise MalformedApdu(f"Le {self.le} out of range 1..65536")
        ext = self.extended or lc > 255 or (self.le is not None and self.le > SHORT_MAX)
        if not ext:
            out = head
            if lc:
                out += bytes((lc,)) + self.data
            if self.le is not None:
                out += bytes((self.le & 0xFF,))
            return out
        out = head
        if lc:
            out += b"\x00" + lc.to_bytes(2, "big") + self.data
        if self.le is not None:
            le = (self.le & 0xFFFF).to_bytes(2, "big")
            out += le if lc else b"\x00" + le
        return out

    @classmethod
    def parse(cls, raw: bytes) -> CommandAPDU:
        """Decode a command APDU (ISO 7816-4 §5.1); raise ``MalformedApdu`` if it is not one."""
        n = len(raw)
        if n < 4:
            raise MalformedApdu(f"command APDU of {n} bytes is shorter than its 4-byte header")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        if n == 4:
            return cls(cla, ins, p1, p2)
        b0 = raw[4]
        if n == 5:
            return cls(cla, ins, p1, p2, b"", b0 or SHORT_MAX)
        if b0 != 0:  # short Lc
            if n == 5 + b0:
                return cls(cla, ins, p1, p2, bytes(raw[5:]))
            if n == 6 + b0:
                return cls(cla, ins, p1, p2, bytes(raw[5:-1]), raw[-1] or SHORT_MAX)
            raise MalformedApdu(f"Lc {b0} does not match the {n - 5} bytes after it")
        # b0 == 00 and more follows: extended length
        if n == 7:
            le = int.from_bytes(raw[5:7], "big") or EXTENDED_MAX
            return cls(cla, ins, p1, p2, b"", le, True)
        if n < 7:
            raise MalformedApdu("truncated extended length field")
        lc = int.from_bytes(raw[5:7], "big")
        if lc == 0:
            raise MalformedApdu("extended Lc of 0")
        if n == 7 + lc:
            return cls(cla, ins, p1, p2, bytes(raw[7:]), None, True)
        if n == 9 + lc:
            le = int.from_bytes(raw[-2:], "big") or EXTENDED_MAX
            return cls(cla, ins, p1, p2, bytes(raw[7:-2]), le, True)
        raise MalformedApdu(f"extended Lc {lc} does not match the {n - 7} bytes after it")


@dataclass(frozen=True, slots=True)
class ResponseAPDU:
    """A response APDU: data followed by SW1 SW2."""

    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    def to_bytes(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def parse(cls, raw: bytes) -> ResponseAPDU:
        if len(raw) < 2:
            raise MalformedApdu(f"response APDU of {len(raw)} bytes has no status word")
        return cls(bytes(raw[:-2]), (raw[-2] << 8) | raw[-1])


def from_hex(text: str) -> bytes:
    """Bytes from hex text that may contain spaces or colons (the CLI and JSON edges).

    The error says where the text goes wrong, never what it holds (it may be a PIN APDU)."""
    cleaned = "".join(text.split()).replace(":", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise MalformedApdu(f"not hexadecimal: {hex_problem(cleaned)}") from None


def hex_problem(text: str) -> str:
    """Where hex text goes wrong, by position only: the first non-hex character, or an odd length."""
    bad = next((i for i, c in enumerate(text, 1) if c not in "0123456789abcdefABCDEF"), None)
    return f"character {bad} is not a hex digit" if bad else f"an odd number of digits ({len(text)})"
