"""Tiny ``firmware_sim.device.Device`` implementations for link and reader tests."""
from __future__ import annotations

# 3B, T0 = 8A (TD1, 10 historical bytes), TD1 = 80 (T=0, TD2 follows), TD2 = 01 (T=1), "sscard-tes", TCK.
ECHO_ATR = bytes.fromhex("3B8A8001") + b"sscard-tes" + bytes.fromhex("50")


class EchoDevice:
    """A card without a file system, for testing links and readers. Records every APDU in ``seen``.

    - case 1: ``9000``; case 2 (Le only): Le bytes ``00 01 02 …`` + ``9000`` (Le 00 = 256; extended Le
      0000 = 65536, capped at what fits a 0xFFFF-byte vpcd frame);
    - case 3/4: the data field echoed + ``9000``.
    """

    def __init__(self, atr: bytes = ECHO_ATR) -> None:
        self._atr = atr
        self.powered = False
        self.power_ons = 0
        self.resets = 0
        self.power_offs = 0
        self.seen: list[bytes] = []

    @property
    def atr(self) -> bytes:
        return self._atr

    def power_on(self) -> bytes:
        self.powered = True
        self.power_ons += 1
        return self._atr

    def reset(self) -> bytes:
        self.powered = True
        self.resets += 1
        return self._atr

    def power_off(self) -> None:
        self.powered = False
        self.power_offs += 1

    def process(self, apdu: bytes) -> bytes:
        self.seen.append(apdu)
        body = apdu[4:]
        if not body:
            return b"\x90\x00"
        if len(body) == 1:  # short case 2
            return bytes(i & 0xFF for i in range(body[0] or 256)) + b"\x90\x00"
        if body[0] == 0 and len(body) == 3:  # extended case 2
            le = int.from_bytes(body[1:3], "big") or 65536
            return bytes(i & 0xFF for i in range(min(le, 65533))) + b"\x90\x00"
        if body[0] == 0 and len(body) >= 3:  # extended case 3/4
            lc = int.from_bytes(body[1:3], "big")
            return body[3 : 3 + lc] + b"\x90\x00"
        return body[1 : 1 + body[0]] + b"\x90\x00"  # short case 3/4

