"""Typed errors and the one table mapping them to the standard interface's integer codes (notes §6.3)."""
from __future__ import annotations

from protocols.errors import (  # noqa: F401  (re-exported: the host's public error types)
    ApplicationBlocked, AuthenticationFailed, BadCardImage, CardError, MalformedApdu, MalformedFrame, NoCard,
    NoPsam, PinBlocked, ProtocolError, ReaderError, ReaderTimeout, SecurityNotSatisfied, SSCardError,
    WrongCard, WrongPin,
)

# Standard read-card interface return codes (notes §6.3).
OK = 0
WRONG_CARD_TYPE = -1
NO_CARD = -2
CARD_NOT_ANSWERING = -4
READER_CONNECTION = -11
NOT_SUPPORTED = -13
BAD_PARAMETER = -14
CARD_ID_FORMAT = -20
INTERNAL_AUTH_FAILED = -21
DATA_MISMATCH = -22
ILLEGAL_INPUT = -23
PIN_LENGTH = -33
PIN_VERIFY_FAILED = -51
PIN_BLOCKED = -52
NO_PSAM = -2201
PSAM_NO_ALG = -2202
PSAM_NO_RK = -2203


def sw_to_exception(sw: int, *, pin: bool = False, auth: bool = False) -> CardError:
    """The typed error for a status word; ``pin``/``auth`` say which kind of check the command was."""
    if pin and sw & 0xFFF0 == 0x63C0:
        return WrongPin(sw, sw & 0x0F)
    if pin and sw == 0x6983:
        return PinBlocked(sw)
    if auth and (sw & 0xFFF0 == 0x63C0 or sw in (0x6983, 0x6988, 0x6984)):
        return AuthenticationFailed(sw, f"authentication failed ({sw:04X})")
    if sw == 0x6982:
        return SecurityNotSatisfied(sw, "security status not satisfied (6982)")
    if sw in (0x6283, 0x6A81, 0x9303):
        return ApplicationBlocked(sw, f"application or card blocked ({sw:04X})")
    return CardError(sw)


def error_code(exc: BaseException) -> int:
    """The standard interface's return code for an exception (one table, notes §6.3)."""
    if isinstance(exc, WrongPin):
        return PIN_VERIFY_FAILED
    if isinstance(exc, PinBlocked):
        return PIN_BLOCKED
    if isinstance(exc, AuthenticationFailed):
        return INTERNAL_AUTH_FAILED if exc.sw in (0, 0x9000) else -exc.sw
    if isinstance(exc, CardError):
        return -exc.sw
    if isinstance(exc, NoCard):
        return NO_CARD
    if isinstance(exc, ReaderTimeout):
        return CARD_NOT_ANSWERING
    if isinstance(exc, ReaderError):
        return READER_CONNECTION
    if isinstance(exc, WrongCard):
        return WRONG_CARD_TYPE
    if isinstance(exc, NoPsam):
        return NO_PSAM
    if isinstance(exc, (ValueError, MalformedApdu)):
        return BAD_PARAMETER
    return NOT_SUPPORTED
