"""APDU traces: one JSON line per exchange, decoded, with secrets and personal data redacted.

docs/design.md §4 Traces: direction, hex, decoded command name (``protocols.commands``), SW meaning (English
and Chinese). PINs, PIN blocks, keys, names and ID numbers are replaced by ``<redacted n bytes>`` unless
``redact=False``: the data of PIN commands (INS 20, 24, 5E), of the PSAM's MAC and encipher command (``80 FA``:
its input holds the data being written, or a PIN), of UPDATE BINARY, and of UPDATE RECORD with a personal item;
short and extended Lc alike; and the PKI application's PIN DIGEST (``80 C4``: a PIN in, the key its VERIFY block is
made with out), command and answer. The header and Lc stay visible. In the bank application's answers (READ RECORD and
GET PROCESSING OPTIONS: ``70``/``77`` templates) the values of the card number, track data, the holder's name and
ID number (``protocols.emv.SENSITIVE_TAGS``: 5A, 57, 5F20 …) are redacted in place and the rest stays readable;
such an answer that does not parse as BER-TLV exactly is redacted whole.

:class:`TracingReader` wraps any reader and traces every exchange on the wire (GET RESPONSE included) and each
power-up's ATR, adding a ``detail`` per command: which DF, file, record, item or key it addresses, from the
card profile (:class:`Describer`; never data). :func:`traced_readers` wraps every reader ``host.spec`` opens
while it is active; ``sscard trace -- COMMAND`` (``host.cli.trace``) is built on it.

A command a PIN pad completed (``host.pinpad.PadTemplate``; a ``TracingReader``'s pad reports its verify and
modify) is traced as its template, named "… (PIN pad)", with ``"pin": "typed on the PIN pad: …"``: the holder
typed the PIN on the reader, so no trace can hold it.
"""
from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Callable, ContextManager

from host.pinpad import PAD_NOTE, PadTemplate, TracedPad, traced_pad
from host.pki import ADF_NAME as PKI_ADF
from host.pki import DDF_NAME as PKI_DDF
from host.reader import Reader
from host.spec import READER_HOOK
from protocols import emv
from protocols import sw as SW
from protocols.apdu import CommandAPDU
from protocols.commands import NAMES, PIN_UNBLOCK_RELOAD
from protocols.errors import MalformedApdu, MalformedFrame
from protocols.profile import GEN2, PSAM_APP_AID, PSAM_KEYS, DFSpec, Item, RecordFile
from protocols.tlv import ber_decode, ber_encode, ber_is_constructed

PERSONAL_TAGS: frozenset[int] = frozenset(
    it.tag for df in GEN2.dfs for f in df.files if isinstance(f, RecordFile) for it in f.items if it.personal)


def command_name(apdu: bytes) -> str:
    if len(apdu) < 2:
        return "?"
    name = NAMES.get((apdu[0], apdu[1]))
    if name == PIN_UNBLOCK_RELOAD.name and len(apdu) > 3:
        return "PIN RELOAD" if apdu[3] == 0x01 else "PIN UNBLOCK"
    return name or f"INS {apdu[1]:02X}"


def _redacted(n: int) -> str:
    return f"<redacted {n} bytes>"


#: INS of commands whose data is a PIN or PIN block (VERIFY; PIN UNBLOCK/RELOAD and ISO CHANGE REFERENCE
#: DATA; CHANGE PIN; the PKI application's PIN DIGEST, C4), or input to the PSAM's MAC/encipher (80 FA), or a
#: transparent file's content (D6).
_SECRET_INS = frozenset({0x20, 0x24, 0x5E, 0xFA, 0xD6, 0xC4})
_PIN_DIGEST = 0xC4            # its answer, SM3 of the PIN, gives the PKI VERIFY key: redacted too


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


#: INS of the bank application's answers that may hold its card data (READ RECORD, GET PROCESSING OPTIONS), and
#: the templates they come in (70 record, 77 GPO response format 2).
_EMV_INS = frozenset({0xB2, 0xA8})
_EMV_TEMPLATES = frozenset({emv.RECORD_TEMPLATE, emv.RESPONSE_FORMAT2})


def redact_emv(data: bytes, depth: int = 0) -> str | None:
    """``data`` (BER-TLV) as hex with the values of ``protocols.emv.SENSITIVE_TAGS`` redacted; None when it does not
    parse and re-encode to the same bytes (the caller then redacts it whole)."""
    try:
        items = ber_decode(data)
    except MalformedFrame:
        return None
    if depth > 4 or b"".join(ber_encode(t, v) for t, v in items) != data:
        return None
    out = []
    for tag, value in items:
        whole = ber_encode(tag, value)
        head = whole[:len(whole) - len(value)].hex().upper()
        if tag in emv.SENSITIVE_TAGS:
            out.append(head + _redacted(len(value)))
        elif ber_is_constructed(tag):
            inner = redact_emv(value, depth + 1)
            if inner is None:
                return None
            out.append(head + inner)
        else:
            out.append(whole.hex().upper())
    return "".join(out)


def redact_response(apdu: bytes, rsp: bytes) -> str:
    data, sw = rsp[:-2], rsp[-2:]
    if data and len(apdu) >= 4:
        ins = apdu[1]
        if ins in _EMV_INS and data[0] in _EMV_TEMPLATES:
            shown = redact_emv(data)
            return (shown if shown is not None else _redacted(len(data))) + sw.hex().upper()
        personal = (ins == 0xB2 and data[0] in PERSONAL_TAGS) or (
            ins == 0xB0 and apdu[2] != 0x96) or ins == 0xC0 or ins == _PIN_DIGEST
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


# --- readers that trace -------------------------------------------------------------------------------------
_PSAM_APPS = {PSAM_APP_AID: "PSAM 3DES application", PSAM_APP_AID[:-1] + b"\x91": "PSAM SM4 application"}
_PKI_NAMES = {PKI_DDF: "PKI DDF PKI.社会保障", PKI_ADF: "PKI ADF SS.CERT.ADF1"}
_BANK_NAMES = {emv.PSE_NAME: "PSE 1PAY.SYS.DDF01", emv.PPSE_NAME: "PPSE 2PAY.SYS.DDF01",
               emv.UNIONPAY_DEBIT: "UnionPay debit", emv.UNIONPAY_CREDIT: "UnionPay credit",
               emv.UNIONPAY_QUASI_CREDIT: "UnionPay quasi-credit"}


class Describer:
    """Names what a command addresses, following SELECTs on one slot (stateful, data never shown)."""

    def __init__(self, slot: str) -> None:
        self.slot = slot
        self.df: DFSpec | None = None
        self.app = ""                       # the bank application's PSE, PPSE or AID, when one is selected

    def __call__(self, apdu: bytes) -> str:
        if len(apdu) < 4:
            return ""
        cla, ins, p1, p2 = apdu[:4]
        data = (data_field(apdu) or (0, b""))[1]
        if ins == 0xA4:
            return self._select(p1, data)
        if ins in (0xB2, 0xDC) and cla in (0x00, 0x04):
            sfi, mode = p2 >> 3, p2 & 0x07
            return self._record(sfi, p1, mode)
        if ins in (0xB0, 0xD6):
            return f"EF{p1 & 0x1F:02X} offset {p2}" if p1 & 0x80 else f"offset {(p1 << 8) | p2}"
        if ins == 0x84 and cla == 0x00:
            return f"{apdu[4] if len(apdu) == 5 else '?'} bytes"
        if ins == 0x82:
            return self._key(p2)
        if (cla, ins) in ((0x80, 0x1A), (0xBF, 0xDE)):
            names = [k.name for k in PSAM_KEYS if k.psam.p1 == p1 and k.psam.p2 == p2]
            return f"key {names[0] if names else f'{p1:02X}/{p2:02X}'}, {p1 >> 5} level(s)"
        if (cla, ins) == (0x80, 0xFA):
            return {0x00: "encipher", 0x05: "MAC"}.get(p1, f"P1 {p1:02X}")
        if (cla, ins) == (0x84, 0x1E):
            return "permanent" if p2 == 1 else "temporary"
        return ""

    def _select(self, p1: int, data: bytes) -> str:
        self.app = ""
        if p1 == 0x04:
            if self.slot == "psam":
                if data in _PSAM_APPS:
                    return _PSAM_APPS[data]
                return "PSAM MF (sx1.sh.社会保障)" if data == GEN2.ssse.aid else data.hex().upper()
            for df in GEN2.dfs:
                if df.aid == data:
                    self.df = df
                    return f"{df.name} {df.title}"
            if data in _BANK_NAMES:
                self.df, self.app = None, _BANK_NAMES[data]
                return self.app
            if data in _PKI_NAMES:
                self.df = None
                return _PKI_NAMES[data]
            return data.hex().upper()
        if len(data) == 2:
            fid = int.from_bytes(data, "big")
            if fid == 0x3F00:
                self.df = None
                return "MF"
            return f"{fid:04X}"
        return ""

    def _record(self, sfi: int, p1: int, mode: int) -> str:
        if self.app:
            return f"{self.app} SFI {sfi} record {p1}"
        where = f"EF{sfi:02X}" if sfi else "current EF"
        items: tuple[Item, ...] = ()
        if self.df is not None and sfi:
            with contextlib.suppress(KeyError):
                ef = self.df.ef(-sfi)
                if isinstance(ef, RecordFile):
                    items = ef.items
        if mode == 0x04:
            title = f" {items[p1 - 1].title}" if 0 < p1 <= len(items) else ""
            return f"{where} record {p1}{title}"
        if mode == 0x05:
            return f"{where} records {p1}–last"
        title = next((f" {it.title}" for it in items if it.tag == p1), "")
        return f"{where} tag {p1:02X}{title}"

    def _key(self, key_id: int) -> str:
        names = [k.name for k in self.df.keys if k.key_id == key_id] if self.df else []
        return f"key {key_id:02X}" + (f" ({names[0]})" if names else "")


class TracingReader:
    """A Reader that reports every exchange (and each power-up's ATR) to ``sink``; the rest is delegated."""

    def __init__(self, inner: Reader, slot: str, sink: Any, redact: bool = True) -> None:
        self.inner = inner
        self.name = inner.name
        self.slot = slot
        self._sink = sink
        self._describe = Describer(slot)
        self._detail = ""
        self._tracer = Tracer(redact=redact, sink=self._entry, slot=slot)

    def _entry(self, entry: dict[str, object]) -> None:
        entry["detail"] = self._detail
        self._sink(entry)

    def connect(self) -> bytes:
        atr = self.inner.connect()
        self._describe.df = None
        self._sink({"t": round(time.time(), 6), "slot": self.slot, "event": "power on", "atr": atr.hex().upper()})
        return atr

    def reset(self) -> bytes:
        atr = self.inner.reset()
        self._describe.df = None
        self._sink({"t": round(time.time(), 6), "slot": self.slot, "event": "reset", "atr": atr.hex().upper()})
        return atr

    def transmit(self, apdu: bytes) -> bytes:
        self._detail = self._describe(apdu)
        t0 = time.perf_counter()
        rsp = self.inner.transmit(apdu)
        if len(rsp) >= 2:
            self._tracer(apdu, rsp, time.perf_counter() - t0)
        return rsp

    def disconnect(self) -> None:
        self.inner.disconnect()

    def transaction(self) -> ContextManager[None]:
        return self.inner.transaction()

    def pin_pad(self) -> TracedPad | None:
        """The reader's PIN pad, its verify and modify traced too (the template only: the pad holds the PIN)."""
        def hook(apdu: bytes, rsp: bytes, seconds: float) -> None:
            self._detail = self._describe(apdu)
            self._tracer(apdu, rsp, seconds)
        return traced_pad(self.inner, hook)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@contextlib.contextmanager
def traced_readers(sink: Any, redact: bool = True) -> Iterator[None]:
    """While active, every reader from ``host.spec.open_readers`` reports to ``sink`` (one dict per event)."""
    token = READER_HOOK.set(lambda reader, slot: TracingReader(reader, slot, sink, redact))
    try:
        yield
    finally:
        READER_HOOK.reset(token)
