"""Reader specs: one string selects any reader (docs/design.md §2).

``sim`` · ``sim:CARD.json[,psam=PSAM.json]`` · ``sim:DEMO-NAME`` · ``pcsc`` · ``pcsc:N`` · ``pcsc:NAME[,psam=NAME]``
· ``ccid-serial:DEVICE_OR_URL``. The CLI (``--reader``), the library and the test suite (``SSCARD_READER``) all
take the same string.

Quoting (``sim`` and ``pcsc``): ``,`` separates the parts, so a ``,`` inside a path or name is written ``,,``;
a value given as ``KEY=VALUE`` may contain ``=`` (``sim:card=/tmp/a=b.json``), the first part given without a
key may not. Every mistake (an unknown or repeated option, an empty value, a card given twice) is a
``ReaderSpecError`` saying which.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from host.reader import Reader
from host.terminal import Terminal
from host.engine import TraceHook

ENV_VAR = "SSCARD_READER"


class ReaderSpecError(ValueError):
    """The reader spec string is not valid."""


@dataclass(frozen=True)
class ReaderSpec:
    kind: str
    target: str
    options: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> ReaderSpec:
        text = text.strip()
        if not text:
            raise ReaderSpecError("empty reader spec (try 'sim', 'pcsc' or 'ccid-serial:/dev/ttyUSB0')")
        kind, _, rest = text.partition(":")
        if kind not in ("sim", "pcsc", "ccid-serial"):
            raise ReaderSpecError(f"unknown reader kind {kind!r} in {text!r} (sim, pcsc, ccid-serial)")
        if kind == "ccid-serial":      # the driver parses its own options (URL,baud=…,protocol=…)
            if not rest:
                raise ReaderSpecError("ccid-serial needs a device or URL, e.g. ccid-serial:/dev/ttyUSB0")
            return cls(kind, rest, {})
        known = _OPTIONS[kind]
        target = ""
        options: dict[str, str] = {}
        for i, part in enumerate(_split(rest) if rest else []):
            key, eq, value = part.partition("=")
            if not eq:
                if i == 0:
                    target = part
                    continue
                if not part:
                    raise ReaderSpecError(f"reader spec {text!r}: an empty part after a ','")
                raise ReaderSpecError(f"reader spec {text!r}: {part!r} is neither the first part nor KEY=VALUE "
                                      "(a ',' inside a path or name is written ',,')")
            if key not in known:
                raise ReaderSpecError(f"reader spec {text!r}: unknown option {key!r} "
                                      f"({kind} takes {', '.join(k + '=' for k in known)})"
                                      + (_EQUALS_HINT[kind] if i == 0 else ""))
            if key in options:
                raise ReaderSpecError(f"reader spec {text!r}: {key}= is given twice")
            if not value:
                raise ReaderSpecError(f"reader spec {text!r}: {key}= needs a value ({_WHAT[key]})")
            options[key] = value
        if "card" in options:
            if target:
                raise ReaderSpecError(f"reader spec {text!r}: the card is given twice ({target!r} and card=)")
            target = options.pop("card")
        return cls(kind, target, options)


# What each kind takes as KEY=VALUE (sim's card= stands for the first part); what each value is.
_OPTIONS = {"sim": ("card", "psam"), "pcsc": ("psam",)}
_WHAT = {"card": "a card image path or demo name", "psam": "a PSAM image path or reader name"}
_EQUALS_HINT = {"sim": "; a path containing '=' is given as card=PATH",
                "pcsc": "; a reader name is matched by a part of it: give a part without '='"}


def _split(rest: str) -> list[str]:
    """Split at single commas; ``,,`` stands for a comma inside a part."""
    parts, current, i = [], [], 0
    while i < len(rest):
        ch = rest[i]
        if ch == ",":
            if rest[i + 1:i + 2] == ",":
                current.append(",")
                i += 2
                continue
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def default_spec() -> str:
    """The library's reader when none is given: ``$SSCARD_READER``, else ``sim``. The command line, the bridge and
    the native library also read the config file (``host.config.reader_spec``)."""
    return os.environ.get(ENV_VAR, "sim")


#: While set, every reader ``open_readers`` returns is passed through it with its slot ("card"/"psam"),
#: e.g. by ``sscard trace`` to record the APDUs of any command (host.trace.traced_readers).
READER_HOOK: ContextVar[Callable[[Reader, str], Reader] | None] = ContextVar("sscard_reader_hook", default=None)


def open_readers(spec: str | ReaderSpec) -> tuple[Reader, Reader | None]:
    """The card reader and the PSAM reader (or None) a spec names, wrapped by ``READER_HOOK`` if set."""
    card, psam = _open_readers(spec)
    hook = READER_HOOK.get()
    if hook is None:
        return card, psam
    return hook(card, "card"), (hook(psam, "psam") if psam is not None else None)


def _open_readers(spec: str | ReaderSpec) -> tuple[Reader, Reader | None]:
    rs = spec if isinstance(spec, ReaderSpec) else ReaderSpec.parse(spec)
    if rs.kind == "sim":
        from hardware.inprocess import SimSpecError, open_sim_readers
        try:
            return open_sim_readers(rs.target, rs.options.get("psam"))
        except SimSpecError as exc:
            raise ReaderSpecError(str(exc)) from None
    if rs.kind == "pcsc":
        from hardware import pcsc
        card_reader = pcsc.open_reader(rs.target)
        psam_name = rs.options.get("psam")
        psam_reader = pcsc.open_reader(psam_name) if psam_name else pcsc.open_psam_reader(card_reader)
        return card_reader, psam_reader
    from hardware import ccid_serial
    return ccid_serial.open_readers(rs.target)


def open_terminal(spec: str | None = None, trace: TraceHook | None = None,
                  psam_trace: TraceHook | None = None) -> Terminal:
    card, psam = open_readers(spec if spec is not None else default_spec())
    return Terminal(card, psam, trace, psam_trace)
