"""Typed errors shared by every layer (docs/design.md §4 "Errors are typed").

They live in ``protocols`` because both ``hardware`` (which raises the transport errors) and ``host``
(which raises the card errors and maps all of them to the standard interface's integer codes in
``host.errors``) must see one definition.
"""
from __future__ import annotations


class SSCardError(Exception):
    """Base of every error this project raises on purpose."""


# --- malformed input ------------------------------------------------------------------------------
class MalformedApdu(SSCardError, ValueError):
    """A byte string is not a well-formed command or response APDU (ISO 7816-4 §5.1)."""


class MalformedFrame(SSCardError, ValueError):
    """A transport frame (T=1 block, CCID message, serial frame, vpcd frame) is malformed."""


class BadCardImage(SSCardError, ValueError):
    """A card or PSAM image file is malformed or inconsistent."""


# --- readers and transports -----------------------------------------------------------------------
class ReaderError(SSCardError):
    """The reader or its link failed (unplugged, service restarted, I/O error, protocol failure)."""


class NoCard(ReaderError):
    """No card in the reader, or the card was removed during the exchange."""


class ReaderTimeout(ReaderError):
    """The reader or card did not answer in time."""


class ProtocolError(ReaderError):
    """A transmission protocol (T=0, T=1, CCID framing) could not recover; no data is returned."""


# --- card answers ---------------------------------------------------------------------------------
class CardError(SSCardError):
    """The card answered with a status word other than success."""

    def __init__(self, sw: int, message: str = "") -> None:
        self.sw = sw
        text = message or f"card answered {sw:04X}"
        super().__init__(text)


class WrongPin(CardError):
    """VERIFY failed; ``tries_left`` attempts remain (SW 63Cx)."""

    def __init__(self, sw: int, tries_left: int) -> None:
        self.tries_left = tries_left
        super().__init__(sw, f"wrong PIN, {tries_left} tries left")


class PinBlocked(CardError):
    """The PIN is blocked (SW 6983)."""

    def __init__(self, sw: int = 0x6983) -> None:
        super().__init__(sw, "PIN blocked")


class AuthenticationFailed(CardError):
    """An internal or external authentication, or a MAC, did not verify."""

    def __init__(self, sw: int = 0, message: str = "authentication failed") -> None:
        super().__init__(sw, message)


class SecurityNotSatisfied(CardError):
    """The card refused an access for lack of PIN or authentication (SW 6982)."""


class ApplicationBlocked(CardError):
    """The application or card is blocked (SW 6283 on SELECT, 6A81, 9303)."""


class WrongCard(SSCardError):
    """The card in the reader is not a social security card (SSSE cannot be selected)."""


class NoPsam(SSCardError):
    """The flow needs a PSAM and the terminal has none (standard interface -2201)."""
