"""The one reader interface every backend implements (docs/design.md §1, §2).

A ``Reader`` moves whole APDUs to one card slot and back. It does no 61xx/6Cxx handling: that is the
job of the one engine in ``host.engine``. Backends live in ``hardware/`` and satisfy this protocol
structurally (``hardware`` may not import ``host``).
"""
from __future__ import annotations

from typing import ContextManager, Protocol, runtime_checkable


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

