"""Typed errors and the one table mapping them to the standard interface's integer codes (docs/sources.md §6.3)."""
from __future__ import annotations

from protocols.errors import (  # noqa: F401  (re-exported: the host's public error types)
    ApplicationBlocked, AuthenticationFailed, BadCardImage, CardError, MalformedApdu, MalformedFrame, NoCard,
    NoPsam, PinBlocked, ProtocolError, ReaderError, ReaderTimeout, SecurityNotSatisfied, SSCardError,
    WrongCard, WrongPin,
)

# Standard read-card interface return codes (docs/sources.md §6.3).
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
HSM_MISMATCH = -25
PIN_ENTRY_CANCELLED = -31
PIN_ENTRY_TIMEOUT = -32
PIN_MISMATCH = -34
INITIAL_PIN_REFUSED = -36
ILLEGAL_CHARACTERS = -41
DATA_LENGTH = -42


# --- errors of the standard interface's inputs and PIN entry (docs/sources.md §6.3); raised by host.standard ----
class InterfaceInputError(SSCardError, ValueError):
    """Base of the standard interface's input errors (each subclass has its own code in ``error_code``)."""


class IllegalInput(InterfaceInputError):
    """pFileAddr / pWriteData / pKey syntax, a value its item does not take (a date that does not exist, a code
    not in its table, a wrong ID check character), or a step called out of order (-23)."""


class CardInfoFormat(InterfaceInputError):
    """pCardInfo's card identification code is not 32 hex digits (-20)."""


class CardInfoMismatch(SSCardError):
    """pCardInfo names another card than the one in the reader (-22)."""


class PinLengthError(InterfaceInputError):
    """The PIN entered is not 6 digits (-33)."""


class PinMismatch(SSCardError):
    """The two entries of a new PIN differ (-34)."""


class InitialPinRefused(SSCardError):
    """The new PIN is the initial PIN (-36)."""


class IllegalCharacters(InterfaceInputError):
    """A value to write has characters its item's format cannot hold (-41)."""


class DataLengthError(InterfaceInputError):
    """A value to write is longer (or, for a fixed-size item, shorter) than its item (-42)."""


class PinEntryCancelled(SSCardError):
    """The holder cancelled PIN entry (-31)."""


class PinEntryTimeout(SSCardError):
    """PIN entry timed out (-32)."""


class PinEntryUnavailable(PinEntryCancelled):
    """No way to ask the holder for a PIN here (a bridge with page PIN entry switched off; a terminal asked to use
    a PIN pad its card reader does not have).

    Code -31, PIN entry cancelled: no PIN was entered, nothing reached the card and no try was spent, and
    the request ends at once. -32 (timeout) would tell the caller that a prompt waited and may be tried
    again with more time, which is not so here."""


class NotSupported(SSCardError):
    """The function or interface (e.g. contactless on a contact-only terminal) is not supported (-13)."""


class BadParameter(InterfaceInputError):
    """An argument out of range, e.g. an iType other than 1–4 (-14)."""


class HsmMismatch(SSCardError):
    """The card's internal-authentication answer differs from the HSM's (-25, docs/sources.md §5.4)."""


class PsamLacksAlgorithm(NoPsam):
    """The PSAM has no application/keys for the card's algorithm (SSF33/SM4) (-2202)."""


class PsamLacksReadKey(NoPsam):
    """The PSAM lacks RKSSSE, needed to read a 3.0 card (-2203)."""


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
    """The standard interface's return code for an exception (the one table below, docs/sources.md §6.3).

    Card status words come back as −SW, except a failed internal authentication (no SW: −21)."""
    if isinstance(exc, AuthenticationFailed) and exc.sw not in (0, 0x9000):
        return -exc.sw
    for types, code in _CODES:
        if isinstance(exc, types):
            return code
    if isinstance(exc, CardError):
        return -exc.sw
    return NOT_SUPPORTED


# Most specific first: the first type an exception is an instance of gives its code.
_CODES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int], ...] = (
    (WrongPin, PIN_VERIFY_FAILED), (PinBlocked, PIN_BLOCKED), (AuthenticationFailed, INTERNAL_AUTH_FAILED),
    (NoCard, NO_CARD), (ReaderTimeout, CARD_NOT_ANSWERING), (ReaderError, READER_CONNECTION),
    (WrongCard, WRONG_CARD_TYPE), (PsamLacksAlgorithm, PSAM_NO_ALG), (PsamLacksReadKey, PSAM_NO_RK),
    (NoPsam, NO_PSAM),
    (IllegalInput, ILLEGAL_INPUT), (CardInfoFormat, CARD_ID_FORMAT), (CardInfoMismatch, DATA_MISMATCH),
    (PinLengthError, PIN_LENGTH), (PinMismatch, PIN_MISMATCH), (InitialPinRefused, INITIAL_PIN_REFUSED),
    (IllegalCharacters, ILLEGAL_CHARACTERS), (DataLengthError, DATA_LENGTH),
    (PinEntryCancelled, PIN_ENTRY_CANCELLED), (PinEntryTimeout, PIN_ENTRY_TIMEOUT), (NotSupported, NOT_SUPPORTED),
    (BadParameter, BAD_PARAMETER), (HsmMismatch, HSM_MISMATCH),
    ((ValueError, MalformedApdu), BAD_PARAMETER),
)
