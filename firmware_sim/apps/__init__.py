"""The applications a card may carry beside the social security environment, one module each.

To add one: a module here with an ``AppData`` subclass (its image section) and an ``Application`` subclass (its
names, FCI and commands; ``firmware_sim.apps.base``), its commands in ``protocols.commands``, and its class in
``APPLICATIONS`` below. The card image keeps its data under ``"apps": {SECTION: …}`` (``firmware_sim.image``);
the card OS routes to it after a SELECT of one of its names (``firmware_sim.card_os``). docs/design.md §3
"Applications".
"""
from __future__ import annotations

from typing import Any

from firmware_sim.apps.base import AppData, Application, CardServices, CardStatus
from firmware_sim.apps.bank import BankApplication, BankData
from firmware_sim.apps.pki import PkiApplication, PkiData
from protocols.errors import BadCardImage

__all__ = ["APPLICATIONS", "AppData", "Application", "BankApplication", "BankData", "CardServices", "CardStatus",
           "PkiApplication", "PkiData", "load_sections"]

#: Every application a card image may carry, by its section name under "apps".
APPLICATIONS: dict[str, type[Application[Any]]] = {app.section: app for app in (BankApplication, PkiApplication)}


def load_sections(doc: Any, where: str = "apps") -> dict[str, AppData]:
    """The ``apps`` object of a card image: each section loaded by its application; ``BadCardImage`` for a section no
    application owns or one its application refuses."""
    if not isinstance(doc, dict):
        raise BadCardImage(f"{where}: expected an object of application sections")
    out: dict[str, AppData] = {}
    for section, body in doc.items():
        app = APPLICATIONS.get(section)
        if app is None:
            raise BadCardImage(f"{where}.{section}: no such application (known: {', '.join(APPLICATIONS)})")
        out[section] = app.data_type.from_json(body, f"{where}.{section}")
    return out
