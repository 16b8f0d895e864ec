"""The shipped demo cards and PSAMs (Guangdong cities, test-only keys, invented people; the bank application on
each card holds invented test-only data on the test BIN 999999).

Images live in ``firmware_sim/demo/`` as JSON; ``scripts/make_demo_cards.py`` regenerates them.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from firmware_sim.image import CardImage, load_json
from firmware_sim.psam_image import PsamImage

DEMO_DIR = Path(str(resources.files("firmware_sim") / "demo"))

# file stem -> (region, profile, serial, person)
DEMO_PEOPLE: dict[str, tuple[str, str, int, dict[str, str]]] = {
    "guangzhou-gen2": ("440100", "gen2", 0xBF7C7A01, {
        "name": "陈晓明", "ssn": "440106198503127719", "card_number": "A44010001",
        "issue_date": "20190315", "expiry_date": "20290315", "ethnicity": "01", "birthplace": "440106",
        "bank_holder_name": "CHEN/XIAOMING"}),
    "shenzhen-gen3": ("440300", "gen3", 0x8593CA02, {
        "name": "林婉婷", "ssn": "44030419920721452X", "card_number": "B44030002",
        "issue_date": "20230601", "expiry_date": "20330601", "ethnicity": "01", "birthplace": "440304",
        "bank_holder_name": "LIN/WANTING"}),
    "foshan-gen2": ("440600", "gen2", 0x9915CA03, {
        "name": "欧阳振华", "name_ext": "", "ssn": "440604197011083051", "card_number": "C44060003",
        "issue_date": "20161020", "expiry_date": "20261020", "ethnicity": "01", "birthplace": "440604",
        "bank_holder_name": "OUYANG/ZHENHUA"}),
}
DEFAULT_CARD = "guangzhou-gen2"

#: The invented balance of each demo card's medical purse (DF04), in fen.
DEMO_PURSE_BALANCE: dict[str, int] = {"guangzhou-gen2": 123456, "shenzhen-gen3": 88800, "foshan-gen2": 5000}


def card_path(name: str = DEFAULT_CARD) -> Path:
    return DEMO_DIR / f"{name}.json"


def psam_path(region: str = "440100") -> Path:
    return DEMO_DIR / f"psam-{region}.json"


def demo_card(name: str = DEFAULT_CARD) -> CardImage:
    return CardImage.from_json(load_json(card_path(name)))


def demo_psam(region: str = "440100") -> PsamImage:
    return PsamImage.from_json(load_json(psam_path(region)))
