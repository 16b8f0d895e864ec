"""The contract between a simulated device (card OS, PSAM) and whatever carries its bytes.

Every link (in-process, vpcd, the simulated serial reader's slots) drives a device through this
interface only, at APDU level. The card-side ISO 7816-3 engine (T=0/T=1) sits between a link that
speaks TPDUs and this interface.
"""
from __future__ import annotations

import abc
import functools
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from firmware_sim.image import ImageStore
from protocols import sw as SW
from protocols.errors import BadCardImage


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


class MinimalDevice:
    """A card with no logic and no state: a fixed ATR, resets that change nothing, and 9000 to every command.
    A subclass that answers otherwise overrides ``process`` only."""

    def __init__(self, atr: bytes) -> None:
        self.atr = atr

    def power_on(self) -> bytes:
        return self.atr

    def reset(self) -> bytes:
        return self.atr

    def power_off(self) -> None:
        pass

    def process(self, apdu: bytes) -> bytes:
        return b"\x90\x00"


class DeviceWrapper:
    """A ``Device`` around another, which answers everything as that one does: its ATR, resets and commands. A
    subclass that changes the answers overrides ``process`` only."""

    def __init__(self, device: Device) -> None:
        self.device = device

    @property
    def atr(self) -> bytes:
        return self.device.atr

    def power_on(self) -> bytes:
        return self.device.power_on()

    def reset(self) -> bytes:
        return self.device.reset()

    def power_off(self) -> None:
        self.device.power_off()

    def process(self, apdu: bytes) -> bytes:
        return self.device.process(apdu)


_MEMORY_FAILURE = SW.MEMORY_FAILURE.to_bytes(2, "big")


class SimulatedDevice(abc.ABC):
    """What every simulated device shares: the ATR from its image, resets that clear volatile state, and an
    image file shared safely with other processes.

    The ``process`` a subclass defines runs under its store's image lock (``ImageStore.begin_command``): no
    other process serving the same image file runs a command meanwhile, and if one changed the file since
    this device last looked, :meth:`reload` takes up the file first. A file that no longer loads makes every
    command answer 6581 (memory failure) and is never overwritten. Volatile state (selected files, PIN and
    authentication status, challenge) belongs to each device and is kept across reloads of the same card.
    """

    image: "HasAtr"
    store: ImageStore

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("process")
        if own is not None and not getattr(own, "_under_image_lock", False):
            cls.process = _under_image_lock(own)  # type: ignore[attr-defined]  # declared by the subclasses

    @property
    def atr(self) -> bytes:
        return self.image.atr

    def power_on(self) -> bytes:
        self._reset_volatile()
        self.refresh()
        return self.image.atr

    def reset(self) -> bytes:
        return self.power_on()

    def power_off(self) -> None:
        self._reset_volatile()

    def refresh(self) -> bool:
        """Take up the image file if another process changed it; False if it no longer loads."""
        store = getattr(self, "store", None)
        if store is None or store.path is None:
            return True
        try:
            store.begin_command(self.reload)
        except (BadCardImage, OSError):
            return False
        store.end_command()
        return True

    @abc.abstractmethod
    def reload(self) -> None:
        """Read the image file again (another process changed it); the store calls it with the image's lock
        held."""

    @abc.abstractmethod
    def _reset_volatile(self) -> None:
        """Forget the security state, current files, challenge and pending response."""


def _under_image_lock(process: Callable[[Any, bytes], bytes]) -> Callable[[Any, bytes], bytes]:
    """``process`` run with the device's image locked and up to date (see ``SimulatedDevice``)."""
    @functools.wraps(process)
    def locked(self: SimulatedDevice, apdu: bytes) -> bytes:
        store = getattr(self, "store", None)
        if store is None or store.path is None:
            return process(self, apdu)
        try:
            store.begin_command(self.reload)
        except (BadCardImage, OSError):
            return _MEMORY_FAILURE
        try:
            return process(self, apdu)
        finally:
            store.end_command()
    locked._under_image_lock = True  # type: ignore[attr-defined]  # a marker on the function object
    return locked


class HasAtr(Protocol):
    atr: bytes
