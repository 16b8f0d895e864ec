"""The contract between a simulated device (card OS, PSAM) and whatever carries its bytes.

Every link (in-process, vpcd, the simulated serial reader's slots) drives a device through this
interface only, at APDU level. The card-side ISO 7816-3 engine (T=0/T=1) sits between a link that
speaks TPDUs and this interface.
"""
from __future__ import annotations

import abc
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


class SimulatedDevice(abc.ABC):
    """What every simulated device shares: the ATR from its image and resets that clear volatile state."""

    image: "HasAtr"

    @property
    def atr(self) -> bytes:
        return self.image.atr

    def power_on(self) -> bytes:
        self._reset_volatile()
        return self.image.atr

    def reset(self) -> bytes:
        return self.power_on()

    def power_off(self) -> None:
        self._reset_volatile()

    @abc.abstractmethod
    def _reset_volatile(self) -> None:
        """Forget the security state, current files, challenge and pending response."""


class HasAtr(Protocol):
    atr: bytes
