"""Fixtures: fresh personalised cards (gen2 and gen3) on disk, and a tiny APDU helper."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import DEMO_DIR
from firmware_sim.image import atomic_write, dumps
from firmware_sim.issuance.personalise import new_card
from tests.support.cardkit import PERSON as PERSON

SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"


class Card:
    """A CardOS with hex in and (data, sw) out, for readable tests."""

    def __init__(self, os_: CardOS) -> None:
        self.os = os_
        self.os.power_on()

    def __call__(self, hex_apdu: str) -> tuple[bytes, int]:
        rsp = self.os.process(bytes.fromhex(hex_apdu.replace(" ", "")))
        return rsp[:-2], int.from_bytes(rsp[-2:], "big")

    def sw(self, hex_apdu: str) -> int:
        return self(hex_apdu)[1]

    def raw(self, apdu: bytes) -> tuple[bytes, int]:
        rsp = self.os.process(apdu)
        return rsp[:-2], int.from_bytes(rsp[-2:], "big")

    def key(self, name: str, df: str = "SSSE") -> bytes:
        spec = self.os.profile.df(df)
        ks = next(k for k in spec.keys if k.name == name)
        return self.os.image.dfs[df].keys[ks.key_id].value


PHOTO = (DEMO_DIR / "photo-3.jpg").read_bytes()


def make_image(tmp_path: Path, profile: str = "gen2", **kw: object) -> Path:
    region = "440300" if profile == "gen3" else "440100"
    kw.setdefault("photo", PHOTO)
    kw.setdefault("purse_balance", 10000)       # 100.00 yuan in the medical purse
    img = new_card(PERSON, profile=profile, region=region, serial=0x123456, **kw)  # type: ignore[arg-type]  # kw holds new_card's keyword options
    path = tmp_path / f"card-{profile}.json"
    atomic_write(path, dumps(img.to_json()))
    return path


@pytest.fixture(params=["gen2", "gen3"])
def any_card(request: pytest.FixtureRequest, tmp_path: Path) -> Card:
    return Card(CardOS.from_file(make_image(tmp_path, request.param)))


@pytest.fixture
def card2(tmp_path: Path) -> Card:
    return Card(CardOS.from_file(make_image(tmp_path, "gen2")))


@pytest.fixture
def card3(tmp_path: Path) -> Card:
    return Card(CardOS.from_file(make_image(tmp_path, "gen3")))
