"""PIN entry on the reader's PIN pad, for the host: the requests for this card, the pad's answers as typed errors,
and traces that say where the PIN went.

Reference: docs/serial.md §5, ``protocols.pinpad`` (structures, insertion rule, outcomes), ``host.reader.PinPad``
(what a backend offers), docs/design.md §3 PIN. With a pad the holder types the PIN on the reader; the host sends a
template with the PIN left out and sees only the card's status word. Traces show that template and say so: there is
no PIN to redact, the host never had it.

Outcomes (docs/sources.md §6.3): 6400 → ``PinEntryTimeout`` (-32), 6401 → ``PinEntryCancelled`` (-31), 6402 →
``PinMismatch`` (-34), 6403 → ``PinLengthError`` (-33), 6B80 → ``BadParameter`` (-14); the card's own status words
as for a VERIFY the host sends (63Cx → ``WrongPin`` -51, 6983 → ``PinBlocked`` -52).
"""
from __future__ import annotations

import time
from typing import Any, Callable

from host import errors as E
from host.reader import PinPad, pin_pad_of
from protocols import pinpad as P

__all__ = ["PadTemplate", "PinPad", "check_pad", "pin_pad_of", "run_pad", "traced_pad"]

PAD_NOTE = "typed on the PIN pad: the host never sees the PIN"


class PadTemplate(bytes):
    """An APDU template a PIN pad completed (traces mark it: the PIN was put in by the pad, not by the host)."""


def run_pad(pad: PinPad, request: P.PinRequest) -> bytes:
    """One verify or modify on ``pad``; the raw answer (card response or pad status word)."""
    answer = pad.verify(request) if isinstance(request, P.PinVerify) else pad.modify(request)
    if len(answer) < 2:
        raise E.ReaderError(f"{pad.name}: an answer of {len(answer)} bytes has no status word")
    return answer


def check_pad(answer: bytes) -> bytes:
    """The data of a successful answer; the pad's own status words and the card's errors as typed errors."""
    sw = int.from_bytes(answer[-2:], "big")
    if sw == 0x9000:
        return answer[:-2]
    if sw == P.SW_PIN_TIMEOUT:
        raise E.PinEntryTimeout("no key on the PIN pad in time (6400)")
    if sw == P.SW_PIN_CANCELLED:
        raise E.PinEntryCancelled("PIN entry cancelled on the PIN pad (6401)")
    if sw == P.SW_PIN_MISMATCH:
        raise E.PinMismatch("the two entries of the new PIN differ (6402)")
    if sw == P.SW_PIN_LENGTH:
        raise E.PinLengthError("the PIN typed on the pad has too few or too many digits (6403)")
    if sw == P.SW_BAD_PARAMETER:
        raise E.BadParameter("the PIN pad refused the request (6B80)")
    raise E.sw_to_exception(sw, pin=True)


class TracedPad:
    """A pad whose operations are reported to a trace hook ``(template, answer, seconds)``, the template marked
    as a ``PadTemplate``."""

    def __init__(self, pad: PinPad, hook: Callable[[bytes, bytes, float], None]) -> None:
        self.pad = pad
        self.name = pad.name
        self._hook = hook

    def verify(self, request: P.PinVerify) -> bytes:
        return self._run(request)

    def modify(self, request: P.PinModify) -> bytes:
        return self._run(request)

    def _run(self, request: P.PinRequest) -> bytes:
        t0 = time.perf_counter()
        answer = run_pad(self.pad, request)
        self._hook(PadTemplate(request.template), answer, time.perf_counter() - t0)
        return answer


def traced_pad(reader: Any, hook: Callable[[bytes, bytes, float], None]) -> TracedPad | None:
    """``reader``'s pad reporting to ``hook`` (for ``host.trace.TracingReader``), or None."""
    pad = pin_pad_of(reader)
    return TracedPad(pad, hook) if pad is not None else None
