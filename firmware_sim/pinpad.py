"""The PIN pad inside a simulated reader: one PC_to_RDR_Secure (or FEATURE_VERIFY/MODIFY_PIN_DIRECT) from the
structure to the APDU the reader sends to the card.

Reference: docs/serial.md §5 (the GemPC PinPad personality), ``protocols.pinpad`` (the structures, the insertion
rule, the keys, the outcomes), CCID rev 1.1 §6.1.11.

Sans-I/O: a ``PinSession`` is fed keys (``press``) and told when the time is up (``time_out``); it says what the
holder is being asked (``prompt``, ``digits``: how many digits are typed, never which) and, once the entry is over,
gives a ``PadResult``: the APDU to send to the card, or the pad's own outcome (CCID bError for timeout and cancel,
a pad status word for a length error or two new PINs that differ). The clock and the keys' sources live in
``hardware/keypad.py``; the CCID firmware that owns the card link is ``firmware_sim/ccid_reader.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

from protocols import pinpad as P

@dataclass(frozen=True)
class PadResult:
    """How a PIN entry ended: ``apdu`` to send to the card, or ``error`` (a CCID bError: ``P.CCID_PIN_TIMEOUT``,
    ``P.CCID_PIN_CANCELLED``), or ``status`` (a pad status word such as ``P.SW_PIN_LENGTH``)."""

    apdu: bytes | None = None
    error: int | None = None
    status: int | None = None


class PinSession:
    """One verify or modify: its prompts in order (current PIN, new PIN, confirmation), each a ``DigitEntry``."""

    def __init__(self, request: P.PinRequest, default_timeout: int = P.DEFAULT_TIMEOUT) -> None:
        self.request = request
        self.prompts = request.prompts
        self.timeout = float(request.timeout or default_timeout)
        self._index = 0
        self._pins: list[str] = []
        self._entry = self._new_entry()
        self.result: PadResult | None = None
        self._check()

    def _check(self) -> None:
        """Refuse a structure whose template cannot take a PIN of the allowed sizes before the holder types one
        (``P.PinPadError``)."""
        for n in sorted({self.request.min_digits, self.request.max_digits} - {0}):
            if isinstance(self.request, P.PinVerify):
                P.verify_apdu(self.request, "0" * n)
            else:
                P.modify_apdu(self.request, "0" * n, "0" * n)

    def _new_entry(self) -> P.DigitEntry:
        r = self.request
        return P.DigitEntry(r.min_digits, r.max_digits, r.validation)

    @property
    def prompt(self) -> str | None:
        """What the holder is asked now (``current``, ``new``, ``confirm``), None once the session is over."""
        return None if self.result is not None else self.prompts[self._index]

    @property
    def prompt_number(self) -> int:
        """Counts the prompts of this session (1 for the first)."""
        return self._index + 1

    @property
    def digits(self) -> int:
        return len(self._entry.digits)

    def press(self, key: str) -> PadResult | None:
        """One key; the result once the session is over (then every later key is ignored)."""
        if self.result is not None:
            return None
        outcome = self._entry.press(key)
        return self._after(outcome) if outcome is not None else None

    def time_out(self) -> PadResult | None:
        if self.result is not None:
            return None
        return self._after(self._entry.time_out())

    def _after(self, outcome: str) -> PadResult | None:
        if outcome == "cancelled":
            return self._finish(PadResult(error=P.CCID_PIN_CANCELLED))
        if outcome == "timeout":
            return self._finish(PadResult(error=P.CCID_PIN_TIMEOUT))
        if outcome == "length":
            return self._finish(PadResult(status=P.SW_PIN_LENGTH))
        self._pins.append(self._entry.take())
        self._index += 1
        if self._index < len(self.prompts):
            self._entry = self._new_entry()
            return None
        return self._finish(self._build())

    def _build(self) -> PadResult:
        pins = dict(zip(self.prompts, self._pins))
        self._pins.clear()
        try:
            if isinstance(self.request, P.PinVerify):
                return PadResult(apdu=P.verify_apdu(self.request, pins["current"]))
            if "confirm" in pins and pins["confirm"] != pins["new"]:
                return PadResult(status=P.SW_PIN_MISMATCH)
            return PadResult(apdu=P.modify_apdu(self.request, pins.get("current"), pins["new"]))
        except P.PinPadError:
            return PadResult(status=P.SW_BAD_PARAMETER)

    def _finish(self, result: PadResult) -> PadResult:
        self._entry.take()
        self.result = result
        return result
