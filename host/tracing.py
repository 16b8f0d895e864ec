"""``sscard trace -- <command>``: the APDU trace of any sscard command, as a table or JSON lines.

A ``TracingReader`` wraps each reader the command opens (through ``host.spec.READER_HOOK``) and records every
exchange on the wire (GET RESPONSE included) with ``host.trace.Tracer``: decoded command name, SW and its
meaning in English and Chinese, PINs, keys, names and ID numbers redacted unless ``--no-redact`` (docs/design.md
§4 Traces). This module adds a ``detail`` per command (which DF, file, record, item or key it addresses,
from the card profile; never data) and the human table.

Output: the command's own output on stdout as usual; the trace on stderr (or ``--out FILE``) as a table,
or as JSON lines with ``--json``; ``--jsonl FILE`` writes the JSON lines as well as the table. The exit code
is the command's.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import unicodedata
from collections.abc import Iterator
from typing import IO, Any, ContextManager

from host.reader import Reader
from host.spec import READER_HOOK
from host.trace import Tracer, data_field
from protocols.profile import GEN2, PSAM_APP_AID, PSAM_KEYS, DFSpec, Item, RecordFile

_PSAM_APPS = {PSAM_APP_AID: "PSAM 3DES application", PSAM_APP_AID[:-1] + b"\x91": "PSAM SM4 application"}


class Describer:
    """Names what a command addresses, following SELECTs on one slot (stateful, data never shown)."""

    def __init__(self, slot: str) -> None:
        self.slot = slot
        self.df: DFSpec | None = None

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
        if p1 == 0x04:
            if self.slot == "psam":
                if data in _PSAM_APPS:
                    return _PSAM_APPS[data]
                return "PSAM MF (sx1.sh.社会保障)" if data == GEN2.ssse.aid else data.hex().upper()
            for df in GEN2.dfs:
                if df.aid == data:
                    self.df = df
                    return f"{df.name} {df.title}"
            return data.hex().upper()
        if len(data) == 2:
            fid = int.from_bytes(data, "big")
            if fid == 0x3F00:
                self.df = None
                return "MF"
            return f"{fid:04X}"
        return ""

    def _record(self, sfi: int, p1: int, mode: int) -> str:
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

    def pin_pad(self) -> Any:
        from host.pinpad import traced_pad      # the pad's verify/modify traced too (template only, no PIN)

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


# --- the table --------------------------------------------------------------------------------------------------
def _short(hex_text: str, width: int = 36) -> str:
    if len(hex_text) <= width:
        return hex_text
    return hex_text[:width] + f"…(+{(len(hex_text) - width) // 2}B)"


def pad(text: str, width: int) -> str:
    """Left-justify by display width (CJK characters take two columns)."""
    shown = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - shown)


def format_table(entries: list[dict[str, object]], wide: bool = False) -> str:
    """A readable table: one line per exchange, power-ups as separator lines."""
    lines = [f"{'#':>3}  {'slot':<4}  {'command':<44}  {'C-APDU':<48}  {'R-APDU':<48}  SW    meaning"]
    n = 0
    for e in entries:
        if "event" in e:
            lines.append(f"{'':>3}  {e['slot']:<4}  -- {e['event']}, ATR {e['atr']}")
            continue
        n += 1
        name = f"{e['cmd_name']} {e.get('detail', '')}".strip()
        cmd, rsp = str(e["cmd"]), str(e["rsp"])[:-4] or "-"
        if not wide:
            cmd, rsp = _short(cmd), _short(rsp)
        lines.append(f"{n:>3}  {e['slot']:<4}  {pad(name, 44)}  {pad(cmd, 48)}  {pad(rsp, 48)}  {e['sw']}  "
                     f"{e['sw_en']} / {e['sw_zh']}")
    return "\n".join(lines)


# --- the command ---------------------------------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    sp = sub.add_parser("trace", help="run another sscard command and show its APDU trace",
                        description="Run `sscard trace [options] -- COMMAND ARGS…`; the trace goes to stderr.")
    sp.add_argument("--json", action="store_true", help="the trace as JSON lines instead of a table")
    sp.add_argument("--jsonl", metavar="FILE", help="also write the JSON lines to FILE ('-' = stdout)")
    sp.add_argument("--out", metavar="FILE", help="write the table (or --json lines) to FILE instead of stderr")
    sp.add_argument("--no-redact", action="store_true", help="show PINs, keys, names and ID numbers")
    sp.add_argument("--wide", action="store_true", help="do not shorten long APDUs in the table")
    sp.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND …")
    sp.set_defaults(func=cmd_trace)


def cmd_trace(args: argparse.Namespace) -> int:
    from host.cli import main
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv or argv[0] == "trace":
        print("sscard trace: give a command to trace, e.g. sscard trace -- read", file=sys.stderr)
        return 2
    entries: list[dict[str, object]] = []
    with contextlib.ExitStack() as stack:
        jsonl: IO[str] | None = None
        if args.jsonl:
            jsonl = sys.stdout if args.jsonl == "-" else stack.enter_context(open(args.jsonl, "w", encoding="utf-8"))

        def sink(entry: dict[str, object]) -> None:
            entries.append(entry)
            if jsonl is not None:
                jsonl.write(json.dumps(entry, ensure_ascii=False) + "\n")
                jsonl.flush()

        with traced_readers(sink, redact=not args.no_redact):
            rc = main(argv)
        out: IO[str] = stack.enter_context(open(args.out, "w", encoding="utf-8")) if args.out else sys.stderr
        if args.json:
            for e in entries:
                out.write(json.dumps(e, ensure_ascii=False) + "\n")
        else:
            out.write(format_table(entries, args.wide) + "\n")
    return rc
