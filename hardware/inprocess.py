"""The in-process link: a simulated device in a slot of this process (reader spec ``sim``).

No bytes cross a wire, so this is the fastest path and the reference the other links are compared with.
``remove()``/``insert()`` simulate taking the card out and putting it back. :func:`open_sim_readers` gives the
two slots a ``sim`` spec names (``host.spec``); :func:`sim_devices`, the devices themselves, from a demo name or
image files (also what ``sscard emulate`` serves).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import ContextManager

from firmware_sim import demo
from firmware_sim.card_os import CardOS
from firmware_sim.device import Device
from firmware_sim.psam import PsamOS
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


# --- what a sim spec names -------------------------------------------------------------------------------
class SimSpecError(ValueError):
    """A ``sim`` reader spec names something that does not exist."""


def sim_devices(target: str = "", psam: str | None = None) -> tuple[CardOS, PsamOS | None]:
    """The card (a demo name or an image path) and the PSAM (a path, or the demo PSAM of the card's region)."""
    if not target or (not target.endswith(".json") and target in demo.DEMO_PEOPLE):
        card = CardOS(demo.demo_card(target or demo.DEFAULT_CARD))
    else:
        if not Path(target).is_file():
            raise SimSpecError(f"sim: no card image at {target!r} (demo cards: {', '.join(demo.DEMO_PEOPLE)})")
        card = CardOS.from_file(target)
    if psam:
        if not Path(psam).is_file():
            raise SimSpecError(f"sim: no PSAM image at {psam!r}")
        return card, PsamOS.from_file(psam)
    path = demo.psam_path(card.image.region)
    return card, (PsamOS(demo.demo_psam(card.image.region)) if path.is_file() else None)


def open_sim_readers(target: str = "", psam: str | None = None) -> tuple[InProcessReader, InProcessReader | None]:
    card, psam_dev = sim_devices(target, psam)
    return (InProcessReader(card, "sscard sim card"),
            InProcessReader(psam_dev, "sscard sim PSAM") if psam_dev is not None else None)
