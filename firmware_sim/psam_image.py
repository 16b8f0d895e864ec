"""PSAM images: terminal number and city-level keys as readable JSON (notes §5.1)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_sim.image import _hex, ascii_digits, load_json, shown
from protocols.crypto import KEY_LENGTHS, Alg
from protocols.errors import BadCardImage

PSAM_FORMAT = "sscard.psam/1"


@dataclass(frozen=True, slots=True)
class PsamKey:
    alg: Alg
    key_type: int
    index: int
    name: str
    value: bytes


@dataclass(slots=True)
class PsamImage:
    atr: bytes
    region: str
    terminal: str        # 12 digits, EF16 (notes §5.1)
    keys: list[PsamKey]
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PSAM_FORMAT,
            "note": self.note,
            "atr": self.atr.hex().upper(),
            "region": self.region,
            "terminal": self.terminal,
            "keys": [{"alg": k.alg.name, "type": k.key_type, "index": f"{k.index:02X}", "name": k.name,
                      "value": k.value.hex().upper()} for k in self.keys],
        }

    @classmethod
    def from_json(cls, doc: Any) -> PsamImage:
        try:
            if not isinstance(doc, dict) or doc.get("format") != PSAM_FORMAT:
                raise BadCardImage(f"PSAM image: format must be {PSAM_FORMAT!r}")
            atr = _hex(doc["atr"], "atr")
            term = doc["terminal"]
            if not ascii_digits(term, (12,)):
                raise BadCardImage("terminal: expected 12 digits (ASCII 0-9)")
            if not ascii_digits(doc["region"], (6,)):
                raise BadCardImage(f"region: {shown(doc['region'])} is not a 6-digit region code")
            keys = []
            for i, k in enumerate(doc["keys"]):
                alg = Alg[k["alg"]]
                value = _hex(k["value"], f"keys[{i}].value")
                if len(value) not in KEY_LENGTHS[alg]:
                    raise BadCardImage(f"keys[{i}].value: {len(value)} bytes is not a {alg.name} key")
                t = int(k["type"])
                if not 0 <= t <= 31:
                    raise BadCardImage(f"keys[{i}].type: {t} not in 0..31")
                keys.append(PsamKey(alg, t, int(k["index"], 16), str(k["name"]), value))
            return cls(atr, str(doc["region"]), term, keys, str(doc.get("note", "")))
        except BadCardImage:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise BadCardImage(f"PSAM image: {type(exc).__name__}: {exc}") from exc


def load_psam(path: Path | str) -> PsamImage:
    return PsamImage.from_json(load_json(path))
