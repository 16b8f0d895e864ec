"""PSAM images: serial, terminal number and keys as readable JSON (docs/design.md §3 "PSAM").

Each key is stored under the address terminals use (``BF DE``/``80 1A`` P1 P2) at the level that P1
implies: 3 levels → the issuer's root key, 2 → the province key, 1 → the city key.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_sim.image_fields import hex_field
from firmware_sim.image import ascii_digits, load_image
from protocols.codecs import encode_cn
from protocols.crypto import KEY_LENGTHS, Alg
from protocols.errors import BadCardImage

PSAM_FORMAT = "sscard.psam/2"
OLD_FORMATS = ("sscard.psam/1",)   # keys of the old recipes: refused, with how to make a new image


@dataclass(frozen=True, slots=True)
class PsamKey:
    alg: Alg
    p1: int          # levels (b8–b6) ‖ usage (b5–b1)
    index: int
    name: str
    value: bytes


@dataclass(slots=True)
class PsamImage:
    atr: bytes
    region: str
    terminal: str        # 12 digits, EF 0016
    keys: list[PsamKey]
    note: str = ""
    transaction_number: int = 0   # 终端交易序号: the number INIT SAM FOR PURCHASE gives its next purchase

    def public_data(self) -> bytes:
        """EF 0015: serial (10 bytes BCD, from the ATR's last 5 bytes) ‖ version 01 ‖ key type 01 ‖ command
        set 01 ‖ FCI 00 ‖ region (3 bytes BCD). Layout a choice; production code reads its first 15 bytes."""
        serial = encode_cn(self.atr[-5:].hex().upper().rjust(20, "0")[-20:], 10) if self.atr[-5:].hex().isdigit() \
            else bytes(5) + self.atr[-5:]
        return serial + bytes((0x01, 0x01, 0x01, 0x00)) + encode_cn(self.region, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PSAM_FORMAT,
            "note": self.note,
            "atr": self.atr.hex().upper(),
            "region": self.region,
            "terminal": self.terminal,
            "keys": [{"alg": k.alg.name, "p1": f"{k.p1:02X}", "index": f"{k.index:02X}", "name": k.name,
                      "value": k.value.hex().upper()} for k in self.keys],
            "transaction_number": self.transaction_number,
        }

    @classmethod
    def from_json(cls, doc: Any) -> PsamImage:
        try:
            if isinstance(doc, dict) and doc.get("format") in OLD_FORMATS:
                raise BadCardImage(
                    f"PSAM image: format {doc['format']!r} holds keys of the old diversification; make a new "
                    "image with `sscard psam new --out FILE` (--issuer-keys for your own key sets)")
            if not isinstance(doc, dict) or doc.get("format") != PSAM_FORMAT:
                raise BadCardImage(f"PSAM image: format must be {PSAM_FORMAT!r}")
            atr = hex_field(doc["atr"], "atr")
            term = doc["terminal"]
            if not ascii_digits(term, (12,)):
                raise BadCardImage("terminal: expected 12 digits (ASCII 0-9)")
            if not ascii_digits(doc["region"], (6,)):
                raise BadCardImage("region: expected a 6-digit region code (ASCII 0-9)")
            keys = []
            for i, k in enumerate(doc["keys"]):
                alg = Alg[k["alg"]]
                value = hex_field(k["value"], f"keys[{i}].value")
                if len(value) not in KEY_LENGTHS[alg]:
                    raise BadCardImage(f"keys[{i}].value: {len(value)} bytes is not a {alg.name} key")
                p1, index = _byte(k["p1"], f"keys[{i}].p1"), _byte(k["index"], f"keys[{i}].index")
                if not 0x20 <= p1 <= 0xFF:
                    raise BadCardImage(f"keys[{i}].p1: {k['p1']!r} is not a P1 with 1 to 7 levels")
                keys.append(PsamKey(alg, p1, index, str(k["name"]), value))
            # An image from before the purse has no counter yet: it starts at 0.
            txn = doc.get("transaction_number", 0)
            if not (isinstance(txn, int) and not isinstance(txn, bool) and 0 <= txn <= 0xFFFFFFFF):
                raise BadCardImage("transaction_number: expected 0 to 4294967295")
            return cls(atr, str(doc["region"]), term, keys, str(doc.get("note", "")), txn)
        except BadCardImage:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise BadCardImage(f"PSAM image: {type(exc).__name__}: {exc}") from exc


def _byte(text: object, what: str) -> int:
    """One byte written as two hex digits ("48"), nothing else."""
    if not (isinstance(text, str) and len(text) == 2 and all(c in "0123456789ABCDEFabcdef" for c in text)):
        raise BadCardImage(f"{what}: expected two hex digits")
    return int(text, 16)


def load_psam(path: Path | str) -> PsamImage:
    """Load a PSAM image file; a bad image's error names the file."""
    return load_image(path, PsamImage.from_json)
