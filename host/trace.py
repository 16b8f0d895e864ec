"""APDU traces: one JSON line per exchange, decoded, with secrets and personal data redacted.

docs/design.md §4 Traces: direction, hex, decoded command name, SW meaning (English and Chinese). PINs,
PIN blocks, keys, names and ID numbers are replaced by ``<redacted n bytes>`` unless ``redact=False``:
the data of PIN commands (INS 20, 24, 5E), of the PSAM's MAC and encipher command (``80 FA``: its input
holds the data being written, or a PIN), of UPDATE BINARY, and of UPDATE RECORD with a personal item;
short and extended Lc alike. The header and Lc stay visible.

A command a PIN pad completed (``host.pinpad.PadTemplate``) is traced as its template, named "… (PIN pad)", with
``"pin": "typed on the PIN pad: …"``: the holder typed the PIN on the reader, so no trace can hold it.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import IO, Callable

from host.pinpad import PAD_NOTE, PadTemplate
from protocols import sw as SW
from protocols.apdu import CommandAPDU
from protocols.errors import MalformedApdu
from protocols.profile import GEN2, RecordFile

_NAMES: dict[tuple[int, int], str] = {
    (0x00, 0xA4): "SELECT", (0x00, 0xB2): "READ RECORD", (0x00, 0xB0): "READ BINARY",
    (0x00, 0x84): "GET CHALLENGE", (0x00, 0xC0): "GET RESPONSE", (0x00, 0x88): "INTERNAL AUTHENTICATE",
    (0x00, 0x82): "EXTERNAL AUTHENTICATE", (0x00, 0x20): "VERIFY", (0x80, 0x5E): "CHANGE PIN",
    (0x84, 0x24): "PIN UNBLOCK/RELOAD", (0x84, 0x1E): "APPLICATION BLOCK", (0x84, 0x18): "APPLICATION UNBLOCK",
    (0x84, 0x16): "CARD BLOCK", (0x00, 0xDC): "UPDATE RECORD", (0x04, 0xDC): "UPDATE RECORD (MAC)",
    (0x00, 0xD6): "UPDATE BINARY", (0x04, 0xD6): "UPDATE BINARY (MAC)", (0x00, 0xE2): "APPEND RECORD",
    (0x04, 0xE2): "APPEND RECORD (MAC)", (0x80, 0x1A): "PSAM INIT (DIVERSIFY)", (0xBF, 0xDE): "PSAM INIT (DIVERSIFY)", (0x80, 0xFA): "PSAM COMPUTE",
}

PERSONAL_TAGS: frozenset[int] = frozenset(
    it.tag for df in GEN2.dfs for f in df.files if isinstance(f, RecordFile) for it in f.items if it.personal)


def command_name(apdu: bytes) -> str:
    if len(apdu) < 2:
        return "?"
    name = _NAMES.get((apdu[0], apdu[1]))
    if name == "PIN UNBLOCK/RELOAD" and len(apdu) > 3:
        return "PIN RELOAD" if apdu[3] == 0x01 else "PIN UNBLOCK"
    return name or f"INS {apdu[1]:02X}"


def _redacted(n: int) -> str:
    return f"<redacted {n} bytes>"


#: INS of commands whose data is a PIN or PIN block (VERIFY; PIN UNBLOCK/RELOAD and ISO CHANGE REFERENCE
#: DATA; CHANGE PIN), or input to the PSAM's MAC/encipher (80 FA), or a transparent file's content (D6).
_SECRET_INS = frozenset({0x20, 0x24, 0x5E, 0xFA, 0xD6})


def data_field(apdu: bytes) -> tuple[int, bytes] | None:
    """(offset, bytes) of a command's data field, after a short or an extended Lc; None if malformed."""
    try:
        data = CommandAPDU.parse(apdu).data
    except MalformedApdu:
        return None
    if not data:
        return len(apdu), b""
    return (5 if apdu[4] else 7), data


def redact_command(apdu: bytes) -> str:
    """The command as hex, its data field replaced by ``<redacted n bytes>`` when it may hold secrets."""
    if len(apdu) < 5:
        return apdu.hex().upper()
    ins = apdu[1]
    field = data_field(apdu)
    if field is None:   # not a well-formed APDU: keep only the header of any command that may carry secrets
        if ins in _SECRET_INS or ins == 0xDC:
            return apdu[:4].hex().upper() + _redacted(len(apdu) - 4)
        return apdu.hex().upper()
    start, data = field
    if data and (ins in _SECRET_INS or (ins == 0xDC and data[0] in PERSONAL_TAGS)):
        end = start + len(data)      # Le, when present, stays visible
        return apdu[:start].hex().upper() + _redacted(len(data)) + apdu[end:].hex().upper()
    return apdu.hex().upper()


def redact_response(apdu: bytes, rsp: bytes) -> str:
    data, sw = rsp[:-2], rsp[-2:]
    if data and len(apdu) >= 4:
        ins = apdu[1]
        personal = (ins == 0xB2 and data[0] in PERSONAL_TAGS) or (
            ins == 0xB0 and apdu[2] != 0x96) or ins == 0xC0
        if personal:
            return _redacted(len(data)) + sw.hex().upper()
    return rsp.hex().upper()


@dataclass
class Tracer:
    """Writes one JSON line per exchange to ``out`` (or calls ``sink`` with the dict)."""

    out: IO[str] | None = None
    redact: bool = True
    sink: Callable[[dict[str, object]], None] | None = None
    slot: str = "card"
    records: list[dict[str, object]] = field(default_factory=list)
    keep: bool = False

    def __call__(self, apdu: bytes, rsp: bytes, seconds: float) -> None:
        sw = (rsp[-2] << 8) | rsp[-1] if len(rsp) >= 2 else 0
        en, zh = SW.meaning(sw)
        entry: dict[str, object] = {
            "t": round(time.time(), 6), "slot": self.slot, "cmd_name": command_name(apdu),
            "cmd": redact_command(apdu) if self.redact else apdu.hex().upper(),
            "rsp": redact_response(apdu, rsp) if self.redact else rsp.hex().upper(),
            "sw": f"{sw:04X}", "sw_en": en, "sw_zh": zh, "ms": round(seconds * 1000, 3),
        }
        if isinstance(apdu, PadTemplate):
            entry["cmd_name"] = f"{entry['cmd_name']} (PIN pad)"
            entry["pin"] = PAD_NOTE
        if self.keep:
            self.records.append(entry)
        if self.sink is not None:
            self.sink(entry)
        if self.out is not None:
            self.out.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.out.flush()
