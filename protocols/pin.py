"""The holder's PIN as a terminal takes it: one rule for the command line and the standard interface.

The social security application's PIN is 6 decimal digits (docs/design.md §3 PIN; docs/sources.md §4.6: the
initial PIN is "123456" and the standard interface answers -33 to a PIN of another length). The card
itself stores 4 to 12 digits (``protocols.crypto.pin_to_bcd``), but what a counter accepts from the holder —
typed at ``sscard pin``, given to ``sscard card new --initial-pin``, or asked by iVerifyPIN and the other PIN
functions, and the digits a PIN pad is told to collect — is this rule, so the two front ends never disagree.
"""
from __future__ import annotations

PIN_DIGITS = 6   # the length of the holder's PIN: the minimum and the maximum a PIN pad is told to collect


class PinFormatError(ValueError):
    """A PIN that breaks the rule; ``kind`` is ``charset`` (not all ASCII digits) or ``length``."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_pin(pin: str, what: str = "the PIN") -> str:
    """``pin`` if it is :data:`PIN_DIGITS` ASCII decimal digits; ``PinFormatError`` otherwise (characters are
    checked before the length). The message never holds the PIN."""
    if pin and not (pin.isascii() and pin.isdigit()):
        raise PinFormatError(f"{what} may hold digits only", "charset")
    if len(pin) != PIN_DIGITS:
        raise PinFormatError(f"{what} must be {PIN_DIGITS} digits, got {len(pin)}", "length")
    return pin
