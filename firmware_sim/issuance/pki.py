"""Issuance of the PKI application: the card makes its signing key, the test CA certifies it, file 0018 gets it.

The factory drives the card as the card-making code of [S6] and [S8] does (docs/sources.md §7): SELECT
``PKI.社会保障`` and ``SS.CERT.ADF1``, GET CHALLENGE and VERIFY of the user PIN, GENERATE KEY PAIR
``80 40 …``, EXPORT PUBLIC KEY ``80 C9 82 00 …`` / ``80 C9 82 80 42``. The private key is made by the card's
application and no command answers it, so the factory never holds it. The test CA (``firmware_sim.issuance.ca``)
then certifies the public key, and the certificate goes into the application's section, where file 0018 reads
it: the factory writes the card's memory (in production the writer sends UPDATE BINARY after the administrator
PIN, which the emulated card does not hold). docs/design.md §3.4.
"""
from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Mapping

from firmware_sim.apps.pki import ADF_NAME, DDF_NAME, SECTION, PkiData, pin_key
from firmware_sim.card_os import CardOS
from firmware_sim.image import CardImage
from firmware_sim.issuance.ca import TestCA, shipped
from protocols import crypto, regions, x509
from protocols.apdu import CommandAPDU

PROFILES = ("gen3",)        # the generation that carries the PKI application


def subject_name(person: Mapping[str, str], region: str) -> x509.Name:
    """C=CN, ST=province, L=city (GB/T 2260 names), CN=the holder's name, serialNumber=the card number."""
    province = regions.region_name(region[:2] + "0000")
    city = regions.region_name(region)
    city = city[len(province):] if city.startswith(province) and city != province else city
    name: list[tuple[str, str]] = [("C", "CN"), ("ST", province)]
    if city and city != province:
        name.append(("L", city))
    name += [("CN", person["name"]), ("serialNumber", person["card_number"])]
    return tuple(name)


def _day(yyyymmdd: str) -> _dt.datetime:
    return _dt.datetime.strptime(yyyymmdd, "%Y%m%d").replace(tzinfo=_dt.UTC)


def add_pki(image: CardImage, person: Mapping[str, str], pin: str, *, issue_date: str, expiry_date: str,
            ca: TestCA | None = None, rng: Callable[[int], bytes] = os.urandom) -> None:
    """Give ``image`` the PKI application: the user PIN ``pin``, a key pair the card generates, the CA's
    certificate for it (valid from the card's issue date to its expiry date)."""
    ca = ca or shipped()
    image.apps[SECTION] = PkiData.new(pin)
    card = CardOS(image, rng=rng)
    card.power_on()

    def send(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
        rsp = card.process(CommandAPDU(cla, ins, p1, p2, data, le).to_bytes())
        if rsp[-2:] != b"\x90\x00":
            raise RuntimeError(f"PKI issuance: the card answered {rsp[-2:].hex().upper()} to {ins:02X}")
        return rsp[:-2]

    pair = bytes.fromhex("C0020012C2020013")
    send(0x00, 0xA4, 0x04, 0x00, DDF_NAME, 256)
    send(0x00, 0xA4, 0x04, 0x00, ADF_NAME, 256)
    challenge = send(0x00, 0x84, 0x00, 0x00, le=16)
    send(0x00, 0x20, 0x01, 0x81, crypto.ecb_encrypt(crypto.Alg.SM4, pin_key(pin), challenge))
    send(0x80, 0x40, 0x00, 0x00, pair)
    send(0x80, 0xC9, 0x82, 0x00, pair)
    exported = send(0x80, 0xC9, 0x82, 0x80, le=0x42)
    public_key = exported[2:]
    data = image.apps[SECTION]
    assert isinstance(data, PkiData)
    data.sign_certificate = ca.issue(subject=subject_name(person, image.region), public_key=public_key,
                                     not_before=_day(issue_date), not_after=_day(expiry_date),
                                     serial_seed=image.atr)
