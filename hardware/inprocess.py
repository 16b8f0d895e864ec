"""The in-process link: a simulated device in a slot of this process (reader spec ``sim``).

No bytes cross a wire, so this is the fastest path and the reference the other links are compared with.
``remove()``/``insert()`` simulate taking the card out and putting it back.
"""
from __future__ import annotations

import contextlib
from typing import ContextManager

from firmware_sim.device import Device
from protocols.errors import NoCard


class InProcessReader:
    """One slot holding a ``Device``; satisfies ``host.reader.Reader``."""

    def __init__(self, device: Device | None, name: str = "sscard sim") -> None:
        self.device = device
        self.name = name
        self._powered = False

    def connect(self) -> bytes:
        if self.device is None:
            raise NoCard(f"{self.name}: no card in the slot")
        self._powered = True
        return self.device.power_on()

    def reset(self) -> bytes:
        return self.connect()

    def transmit(self, apdu: bytes) -> bytes:
        device = self.device
        if device is None:
            raise NoCard(f"{self.name}: no card in the slot")
        if not self._powered:
            raise NoCard(f"{self.name}: the card is not powered (connect first)")
        return device.process(apdu)

    def disconnect(self) -> None:
        if self.device is not None and self._powered:
            self.device.power_off()
        self._powered = False

    def transaction(self) -> ContextManager[None]:
        return contextlib.nullcontext()

    # --- simulation controls ------------------------------------------------------------------------
    def remove(self) -> Device | None:
        """Take the card out (the next transmit raises ``NoCard``); returns it."""
        device, self.device = self.device, None
        if device is not None and self._powered:
            device.power_off()
        self._powered = False
        return device

    def insert(self, device: Device) -> None:
        self.device = device
        self._powered = False
