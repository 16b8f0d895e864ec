"""Options several ``sscard`` commands share: ``--reader``, issuer key files (``--issuer-keys``), and the PIN as
``sscard pin`` takes it (``--pin``, else a line of standard input, else a prompt; ``sscard purse`` and ``sscard pki
sign`` too).

``--reader`` is left None when not given; ``resolve_reader`` (called by ``host.cli.main`` once the command line is
parsed) fills it in from ``$SSCARD_READER``, the config file or ``sim`` (``host.config``), so the file is read only
by commands that need it and after the parser, where a bad file is an error message and exit 2. ``on_terminal``
runs one call on a terminal opened on that reader.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from host import config
from host.spec import open_terminal
from host.terminal import Terminal
from protocols.keys import IssuerKeys
from protocols.pin import PinFormatError, check_pin


def reader_arg(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--reader", "-r", default=None,
                    help="reader spec: sim, sim:CARD.json[,psam=PSAM.json], pcsc[:N|NAME], ccid-serial:DEV "
                         "(default: $SSCARD_READER, else reader in sscard.toml, else sim)")


def resolve_reader(args: argparse.Namespace) -> None:
    """Set ``args.reader`` when the command takes ``--reader`` and it was not given (``host.config.reader_spec``),
    and ``args.reader_source`` to where it came from, for error messages."""
    if "reader" in vars(args) and args.reader is None:
        args.reader, args.reader_source = config.reader_spec()


T = TypeVar("T")


def on_terminal(args: argparse.Namespace, call: Callable[[Terminal], T]) -> T:
    """``call`` on a terminal opened on the command's ``--reader``; the terminal is closed when it returns or
    raises."""
    term = open_terminal(args.reader)
    try:
        return call(term)
    finally:
        term.close()


def issuer_keys(*paths: str) -> tuple[IssuerKeys, ...]:
    """Issuer key sets from JSON files (protocols.keys); the shipped test sets are in firmware_sim/demo/.

    Errors name the file and the key, never a key's value: each key's hex is checked here before the parser
    sees it (its own message would quote the value)."""
    sets = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
        keys = data.get("keys") if isinstance(data, dict) else None
        for name, text in keys.items() if isinstance(keys, dict) else ():
            if isinstance(text, str):
                try:
                    bytes.fromhex(text)
                except ValueError:
                    raise ValueError(f"{path}: key {name}: not a hex string") from None
        try:
            sets.append(IssuerKeys.from_json_dict(data))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return tuple(sets)


def read_pin(args: argparse.Namespace, attr: str = "pin", prompt: str = "PIN: ") -> str:
    """The PIN ``--pin``/``--new-pin`` gives, else a line of standard input (not a terminal), else asked on the
    terminal; checked against the PIN rule. ``ValueError`` (exit 2) naming where it came from."""
    flag, label = "--" + attr.replace("_", "-"), prompt.rstrip(": ")
    value = getattr(args, attr, None)
    where = flag
    if not value:
        if not sys.stdin.isatty():
            line = sys.stdin.readline()
            if not line:
                raise ValueError(f"no {label} given: standard input ended (give it with {flag}, as a line of "
                                 "standard input, or at the prompt of a terminal)")
            value, where = line.strip(), f"the {label} on standard input"
        else:
            try:
                value = getpass.getpass(prompt)
            except EOFError:
                print(file=sys.stderr)               # end the prompt's line
                raise ValueError(f"no {label} given: end of input at the prompt (Ctrl-D)") from None
            where = f"the {label}"
    try:
        return check_pin(value, where)
    except PinFormatError as exc:
        raise ValueError(str(exc)) from None


def check_pin_flags(args: argparse.Namespace, *attrs: str) -> None:
    """Check the PINs given as flags (``--pin``, ``--new-pin``) against the PIN rule before a reader is opened."""
    for attr in attrs:
        value = getattr(args, attr, None)
        if value:
            try:
                check_pin(value, "--" + attr.replace("_", "-"))
            except PinFormatError as exc:
                raise ValueError(str(exc)) from None
