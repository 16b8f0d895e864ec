"""The ``sscard`` command line: one module per command, assembled into one parser here.

    read · bank · pki cert/sign · apdu · card new/batch · psam new · pin · purse · write · block/unblock · readers
    · pcscd · emulate · trace · shell · serve

Each command module has ``add_parser(sub)``, which adds its sub-command and sets ``func`` to the function that
runs it; ``main`` parses, runs, and turns an error into a message and an exit code. Commands that talk to a
card take ``--reader SPEC`` (reader specs: docs/design.md §2); without it the reader comes from
``$SSCARD_READER``, the config file ``sscard.toml`` or ``sim`` (``host.cli.options``, ``host.config``).

Exit codes (``host.cli.exits``): 0 success · 1 the card refused a command · 2 bad arguments or input · 3 no
card or reader failure · 4 bad card/PSAM image · 5 wrong PIN, blocked PIN or failed authentication · 6 no
PSAM · 130 interrupted (Ctrl-C) · 141 the reader of the output went away (a closed pipe, as in ``sscard read
| head -1``: the rest of the output is dropped quietly, 128 + SIGPIPE as a shell reports a killed writer).
Errors of the user's making (bad input, no PIN at the prompt, no pcscd, an unknown file) are a message on
stderr and one of these codes, never a traceback. ``trace -- CMD`` exits with CMD's code; ``shell --script`` with 0 (every line passed), 1 (a line failed:
FILE:LINE is printed) or 2 (a line could not be parsed); ``serve`` and ``pcscd`` with 0 when stopped (Ctrl-C), 2
for bad options (host.cli.trace, host.cli.shell, host.cli.serve, host.cli.pcscd); ``readers`` with 3 when no pcscd
answers (host.cli.readers). A config file that cannot be used is exit 2 with the file, the key and the problem
(``host.config``).
"""
from __future__ import annotations

import argparse
import os
import select
import sys
from typing import Sequence

from host import errors as E
from host.cli import (apdu, bank, block, card, emulate, options, pcscd, pin, pki, psam, purse, read, readers, serve,
                       shell, trace, write)
from host.cli.exits import EXIT_AUTH, EXIT_CARD, EXIT_IMAGE, EXIT_INTERRUPTED, EXIT_NO_PSAM, EXIT_PIPE, EXIT_READER, EXIT_USAGE
from host.spec import ReaderSpecError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sscard", description="Social security card terminal and emulator.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (read, bank, pki, apdu, card, psam, pin, purse, write, block, readers, pcscd, emulate):
        command.add_parser(sub)
    trace.add_parser(sub, main)     # runs the traced command through main: handed in, not imported
    shell.add_parser(sub)
    serve.add_parser(sub)
    return p


# Exit code and message for each error type, most specific first (the table the module docstring states).
_EXITS: tuple[tuple[tuple[type[BaseException], ...], int, bool], ...] = (
    ((E.WrongPin, E.PinBlocked, E.AuthenticationFailed), EXIT_AUTH, True),
    ((E.NoPsam,), EXIT_NO_PSAM, False),
    ((E.CardError,), EXIT_CARD, True),
    ((E.BadCardImage,), EXIT_IMAGE, False),
    ((E.ReaderError,), EXIT_READER, False),
    ((E.WrongCard,), EXIT_CARD, False),
    ((ReaderSpecError, E.MalformedApdu, ValueError, OSError), EXIT_USAGE, False),
)


def _stdout_gone() -> bool:
    """True if standard output is a pipe or socket whose reader has gone (a write would fail with EPIPE)."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _drop_stdout() -> None:
    """Point standard output at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)      # --help writes to standard output too
        options.resolve_reader(args)
        code = int(args.func(args))
        sys.stdout.flush()          # a closed pipe shows here, not in the interpreter's exit
        return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        if not _stdout_gone():
            raise
        _drop_stdout()
        return EXIT_PIPE
    except Exception as exc:
        for types, code, with_interface_code in _EXITS:
            if isinstance(exc, types):
                prefix = "bad image: " if code == EXIT_IMAGE else ""
                suffix = f" (code {E.error_code(exc)})" if with_interface_code else ""
                if isinstance(exc, (ReaderSpecError, E.ReaderError)) and getattr(args, "reader_source", None):
                    suffix += f" (reader {args.reader} from {args.reader_source})"
                print(f"sscard: {prefix}{exc}{suffix}", file=sys.stderr)
                return code
        raise
