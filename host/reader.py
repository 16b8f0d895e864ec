"""The one reader interface every backend implements (docs/design.md §1, §2).

A ``Reader`` moves whole APDUs to one card slot and back. It does no 61xx/6Cxx handling: that is the
job of the one engine in ``host.engine``. Backends live in ``hardware/`` and satisfy this protocol
structurally (``hardware`` may not import ``host``).

A reader with a PIN pad also has ``pin_pad() -> PinPad | None`` (an optional capability: ask with
:func:`pin_pad_of`). The pad takes a PC/SC part 10 structure whose APDU template leaves the PIN out; the holder
types the PIN on the pad, the pad puts it in and sends the APDU to the card, and the host gets the card's answer
only: the PIN never reaches the host (docs/serial.md §5, ``protocols.pinpad``).
"""
from __future__ import annotations

from typing import ContextManager, Protocol, runtime_checkable

from protocols.pinpad import PinModify, PinVerify


@runtime_checkable
class Reader(Protocol):
    """One slot of a reader. Errors: ``protocols.errors.NoCard``, ``ReaderError`` and subclasses."""

    name: str

    def connect(self) -> bytes:
        """Power the card (or attach to it) and return its ATR. Raises ``NoCard`` when the slot is empty."""
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU, return the raw response APDU (data ‖ SW1 SW2)."""
        ...

    def reset(self) -> bytes:
        """Warm-reset the card and return its ATR."""
        ...

    def disconnect(self) -> None:
        """Power the card down (or release it). Safe to call twice."""
        ...

    def transaction(self) -> ContextManager[None]:
        """Hold the card exclusively for a multi-command flow (a no-op where nothing else can reach it)."""
        ...



@runtime_checkable
class PinPad(Protocol):
    """The PIN pad of a reader slot (FEATURE_VERIFY_PIN_DIRECT / FEATURE_MODIFY_PIN_DIRECT, or PC_to_RDR_Secure).

    Each call returns what SCardControl would: the card's response APDU (data ‖ SW1 SW2), or one of the pad's own
    status words (``protocols.pinpad.SW_PIN_TIMEOUT`` 6400, ``SW_PIN_CANCELLED`` 6401, ``SW_PIN_MISMATCH`` 6402,
    ``SW_PIN_LENGTH`` 6403, ``SW_BAD_PARAMETER`` 6B80). ``host.pinpad.check_pad`` turns them into errors."""

    name: str

    def verify(self, request: PinVerify) -> bytes:
        ...

    def modify(self, request: PinModify) -> bytes:
        ...


def pin_pad_of(reader: object) -> PinPad | None:
    """The reader's PIN pad, or None when it has none (or is a backend that cannot have one)."""
    get = getattr(reader, "pin_pad", None)
    return get() if callable(get) else None
