"""Fixtures for the service-counter tests: card and PSAM images in tmp dirs, terminals, drivers."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import DEMO_DIR
from firmware_sim.device import MinimalDevice
from firmware_sim.image import atomic_write, dumps
from firmware_sim.issuance.personalise import new_card, new_psam
from firmware_sim.psam import PsamOS
from firmware_sim.psam_image import PsamImage
from hardware.inprocess import InProcessReader
from host.standard import ScriptedPins, SSCardDriver
from host.terminal import Terminal
from protocols.crypto import Alg
from protocols.keys import KEY_NAMES, IssuerKeys, test_issuer_keys

PEOPLE = {
    "440100": {"name": "陈晓明", "ssn": "440106198503127719", "card_number": "A44010001"},
    "440300": {"name": "林婉婷", "ssn": "44030419920721452X", "card_number": "B44030002"},
}
REGION = {"gen2": "440100", "gen3": "440300"}
PHOTO = (DEMO_DIR / "photo-1.jpg").read_bytes()


def forged_keys(alg: Alg) -> IssuerKeys:
    """A key set the test PSAM does not know: cards personalised with it fail authentication."""
    return IssuerKeys("forged (tests)", alg, {n: bytes([0x5A + i]) * 16 for i, n in enumerate(KEY_NAMES)})


class NotAnSsCard(MinimalDevice):
    """A card without the social security application (a bank card, say): SELECT by name gives 6A82."""

    def __init__(self) -> None:
        super().__init__(bytes.fromhex("3B6800000073C84013009000"))

    def process(self, apdu: bytes) -> bytes:
        return b"\x6A\x82" if apdu[1:2] == b"\xA4" else b"\x6D\x00"


class Images:
    """Writes card and PSAM images into a tmp dir and opens terminals on them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.n = 0

    def card(self, profile: str = "gen2", issuer: IssuerKeys | None = None, photo: bytes = PHOTO,
             serial: int = 7, bank: bool | None = None) -> Path:
        self.n += 1
        region = REGION[profile]
        image = new_card(PEOPLE[region], profile=profile, region=region, serial=serial, issuer=issuer, photo=photo,
                         bank=bank)
        path = self.root / f"card-{self.n}.json"
        atomic_write(path, dumps(image.to_json()))
        return path

    def psam(self, region: str = "440100", algs: tuple[Alg, ...] = (Alg.DES3, Alg.SM4),
             drop: tuple[str, ...] = ()) -> Path:
        self.n += 1
        image = new_psam(region, region + "000009", tuple(test_issuer_keys(a) for a in algs))
        if drop:
            image = PsamImage(image.atr, image.region, image.terminal,
                              [k for k in image.keys if k.name not in drop], image.note)
        path = self.root / f"psam-{self.n}.json"
        atomic_write(path, dumps(image.to_json()))
        return path

    def terminal(self, card: Path | None, psam: Path | None | bool = True) -> Terminal:
        """A terminal on these images; ``psam=True`` makes a fitting PSAM, ``None``/False means none."""
        card_dev = CardOS.from_file(card) if card is not None else None
        if psam is True:
            region = card_dev.image.region if card_dev is not None else "440100"
            psam = self.psam(region)
        psam_reader = InProcessReader(PsamOS.from_file(psam), "test PSAM") if psam else None
        return Terminal(InProcessReader(card_dev, "test card"), psam_reader)


@pytest.fixture
def images(tmp_path: Path) -> Images:
    return Images(tmp_path)


@pytest.fixture
def make_driver(images: Images) -> Callable[..., tuple[SSCardDriver, ScriptedPins]]:
    """``make_driver(profile="gen2", *pins, psam=True, issuer=None)`` → (driver, its scripted PIN pad)."""
    def make(profile: str = "gen2", *pins: str | None, psam: Path | None | bool = True,
             issuer: IssuerKeys | None = None) -> tuple[SSCardDriver, ScriptedPins]:
        pad = ScriptedPins(list(pins))
        term = images.terminal(images.card(profile, issuer), psam)
        return SSCardDriver(term, pin_entry=pad, device_number="SIM0001"), pad
    return make


# --- the card's memory, read directly (not through the interface under test) ---------------------------------
def card_os(driver: SSCardDriver) -> CardOS:
    device = driver.contact.card_reader.device       # type: ignore[attr-defined]  # the in-process reader's card
    assert isinstance(device, CardOS)
    return device


def item_value(driver: SSCardDriver, path: str, name: str) -> str:
    """An item as the card holds it, read from the card's memory (not through the interface under test)."""
    dev = card_os(driver)
    df, ef = dev.profile.find_file(path)
    item = ef.item(name)                                   # type: ignore[union-attr]  # record files only here
    record = dev.image.dfs[df.name].records[ef.fid][ef.items.index(item)]  # type: ignore[union-attr]
    return item.decode_value(record[2:])


def tries(driver: SSCardDriver, df: str, key_id: int) -> int:
    return card_os(driver).image.dfs[df].keys[key_id].tries_left


def records(driver: SSCardDriver) -> dict[str, object]:
    """Everything the card stores but its try counters."""
    doc = card_os(driver).image.to_json()
    return {"dfs": {name: {k: v for k, v in df.items() if k != "keys"} for name, df in doc["dfs"].items()},
            "pin": doc["pin"]["value"]}
