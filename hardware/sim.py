"""The emulator as the host reaches it: simulated devices from images or demos, and personalisation.

``host`` may not import ``firmware_sim`` (docs/design.md §1), so everything the host needs of the device
side passes through here.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from firmware_sim import demo
from firmware_sim.card_os import CardOS
from firmware_sim.device import Device
from firmware_sim.device_faults import FaultyDevice, ForcedStatus, TearingStore, TearPoint
from firmware_sim.image import atomic_write, dumps, remove_stale_temporaries
from firmware_sim.personalise import new_card, new_psam
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from protocols.keys import IssuerKeys


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


def write_new_card(out: Path, person: Mapping[str, str], *, profile: str, region: str, serial: int,
                   photo: bytes = b"", pin: str = "", issuer: IssuerKeys | None = None) -> bytes:
    """Personalise a card image to ``out`` (atomically); returns its ATR."""
    card = new_card(person, profile=profile, region=region, serial=serial, photo=photo, pin=pin, issuer=issuer)
    _write_image(Path(out), dumps(card.to_json()))
    return card.atr


def write_new_psam(out: Path, region: str, terminal: str, issuers: tuple[IssuerKeys, ...] | None = None) -> str:
    """A PSAM image with the city keys of ``region`` to ``out`` (atomically); returns its terminal number."""
    psam = new_psam(region, terminal, issuers)
    _write_image(Path(out), dumps(psam.to_json()))
    return psam.terminal


def _write_image(out: Path, text: str) -> None:
    """Write a new image (``0600``; an existing file keeps its mode) and drop temp files of killed writes."""
    remove_stale_temporaries(out.parent, out.name)
    atomic_write(out, text)


@dataclass(frozen=True)
class Faults:
    """Faults to inject into the emulated card (firmware_sim.device_faults): remove it at the N-th command,
    force status words (``INS:SW`` or ``INS:SW@N``), answer slowly, or lose power in the N-th image write."""

    remove_at: int | None = None
    force_sw: tuple[str, ...] = ()
    delay: float = 0.0
    tear_at: int | None = None

    def forced(self) -> list[ForcedStatus]:
        out = []
        for text in self.force_sw:
            try:
                rule, _, at = text.partition("@")
                ins, sep, sw = rule.partition(":")
                if not sep or len(ins) != 2 or len(sw) != 4:
                    raise ValueError
                out.append(ForcedStatus(int(sw, 16), ins=int(ins, 16), at=int(at) if at else None, times=0))
            except ValueError:
                raise ValueError(f"--force-sw {text!r}: expected INS:SW or INS:SW@N, e.g. B2:6581 or 20:63C1@3") \
                    from None
        return out

    @property
    def any(self) -> bool:
        return bool(self.remove_at or self.force_sw or self.delay or self.tear_at)


def devices_for_emulation(card: str | None, psam: str | None, faults: Faults | None = None) -> list[Device]:
    """The devices ``sscard emulate`` serves: the card (wrapped for fault injection when asked) and the PSAM."""
    c, p = sim_devices(card or "", psam)
    device: Device = c
    if faults is not None and faults.any:
        if faults.tear_at:
            if c.store.path is None:
                raise ValueError("--tear-at needs a card image file (--card CARD.json)")
            c.store = TearingStore(c.store.path, tear_on=faults.tear_at, point=TearPoint.PARTIAL_WRITE)
        # A slow card also asks for twice the block waiting time (S(WTX) on T=1) before each answer.
        device = FaultyDevice(c, remove_at=faults.remove_at, forced=faults.forced(), delay=faults.delay,
                              slow_wtx=2 if faults.delay else 0)
    return [device] + ([p] if p is not None else [])
