"""Reader specs: one string selects any reader (docs/design.md §2).

``sim`` · ``sim:CARD.json[,psam=PSAM.json]`` · ``sim:DEMO-NAME`` · ``pcsc`` · ``pcsc:N`` · ``pcsc:NAME[,psam=NAME]``
· ``ccid-serial:DEVICE_OR_URL``. The CLI (``--reader``), the library and the test suite (``SSCARD_READER``) all
take the same string.
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
        parts = rest.split(",") if rest else []
        target = ""
        options: dict[str, str] = {}
        for i, part in enumerate(parts):
            if "=" in part:
                k, _, v = part.partition("=")
                if k not in ("psam", "card"):
                    raise ReaderSpecError(f"unknown option {k!r} in reader spec {text!r}")
                options[k] = v
            elif i == 0:
                target = part
            else:
                raise ReaderSpecError(f"unexpected {part!r} in reader spec {text!r}")
        return cls(kind, target, options)


def default_spec() -> str:
    return os.environ.get(ENV_VAR, "sim")


#: While set, every reader ``open_readers`` returns is passed through it with its slot ("card"/"psam"),
#: e.g. by ``sscard trace`` to record the APDUs of any command (host.tracing.traced_readers).
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
        from hardware.sim import SimSpecError, open_sim_readers
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
