"""The contract between a simulated device (card OS, PSAM) and whatever carries its bytes.

Every link (in-process, vpcd, the simulated serial reader's slots) drives a device through this
interface only, at APDU level. The card-side ISO 7816-3 engine (T=0/T=1) sits between a link that
speaks TPDUs and this interface.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Device(Protocol):
    """A smart card seen from its contacts, one APDU at a time."""

    @property
    def atr(self) -> bytes:
        """The answer to reset this device gives."""
        ...

    def power_on(self) -> bytes:
        """Cold reset: clear volatile state (security status, current files, challenge); return the ATR."""
        ...

    def reset(self) -> bytes:
        """Warm reset: same volatile effects as power_on; return the ATR."""
        ...

    def power_off(self) -> None:
        """Deactivate: volatile state is lost, persistent state is already on disk."""
        ...

    def process(self, apdu: bytes) -> bytes:
        """Execute one command APDU and return the response APDU (data ‖ SW1 SW2).

        Never raises for bad input: a malformed or refused command gets the status word a real
        card would give.
        """
        ...
