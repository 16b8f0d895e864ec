"""``sscard trace -- <command>``: the APDU trace of any sscard command, as a table or JSON lines.

``host.trace.traced_readers`` wraps each reader the command opens and records every exchange on the wire
(GET RESPONSE included): decoded command name, what it addresses, SW and its meaning in English and Chinese,
PINs, keys, names and ID numbers redacted unless ``--no-redact`` (docs/design.md §4 Traces). This module runs
the command (with the ``main`` the parser assembly hands it) and prints the human table.

Output: the command's own output on stdout as usual; the trace on stderr (or ``--out FILE``) as a table,
or as JSON lines with ``--json``; ``--jsonl FILE`` writes the JSON lines as well as the table. The exit code
is the command's.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from host.cli.columns import pad
from host.trace import traced_readers

#: What runs the traced command: ``host.cli.main`` (handed in, so this module does not import the package).
RunCommand = Callable[[Sequence[str]], int]


# --- the table --------------------------------------------------------------------------------------------------
def _short(hex_text: str, width: int = 36) -> str:
    if len(hex_text) <= width:
        return hex_text
    return hex_text[:width] + f"…(+{(len(hex_text) - width) // 2}B)"


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
def add_parser(sub: Any, run: RunCommand) -> None:
    sp = sub.add_parser("trace", help="run another sscard command and show its APDU trace",
                        description="Run `sscard trace [options] -- COMMAND ARGS…`; the trace goes to stderr.")
    sp.add_argument("--json", action="store_true", help="the trace as JSON lines instead of a table")
    sp.add_argument("--jsonl", metavar="FILE", help="also write the JSON lines to FILE ('-' = stdout)")
    sp.add_argument("--out", metavar="FILE", help="write the table (or --json lines) to FILE instead of stderr")
    sp.add_argument("--no-redact", action="store_true", help="show PINs, keys, names and ID numbers")
    sp.add_argument("--wide", action="store_true", help="do not shorten long APDUs in the table")
    sp.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND …")
    sp.set_defaults(func=cmd_trace, run=run)


def cmd_trace(args: argparse.Namespace) -> int:
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
            rc = args.run(argv)
        out: IO[str] = stack.enter_context(open(args.out, "w", encoding="utf-8")) if args.out else sys.stderr
        if args.json:
            for e in entries:
                out.write(json.dumps(e, ensure_ascii=False) + "\n")
        else:
            out.write(format_table(entries, args.wide) + "\n")
    return rc
