"""Personalised cards for the fault and fuzz tests, and the computations a PSAM would do with the card's own
keys (external authentication, MACs, enciphered PINs; docs/design.md §3), so tests can reach deep card states."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, TypeVar

from firmware_sim.apps.base import AppData
from firmware_sim.card_os import CardOS
from firmware_sim.image import CardImage, ImageStore, atomic_write, dumps
from firmware_sim.issuance.personalise import new_card
from protocols import crypto

PERSON = {"name": "测试员", "ssn": "440106199001011235", "card_number": "T44010001",
          "issue_date": "20240301", "expiry_date": "20340301"}
REGION = {"gen1": "440600", "gen2": "440100", "gen3": "440300"}
SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
GET_CHALLENGE = bytes.fromhex("0084000008")
PIN = "123456"


@functools.lru_cache(maxsize=4)
def _template(profile: str) -> str:
    return dumps(new_card(PERSON, profile=profile, region=REGION[profile], serial=0x5A17).to_json())


def new_image(profile: str = "gen2") -> CardImage:
    """A fresh personalised image (same keys every time: the TEST ONLY issuer keys, a fixed serial)."""
    import json
    return CardImage.from_json(json.loads(_template(profile)))


_Data = TypeVar("_Data", bound=AppData)


def app_data(image: CardImage, section: str, data_type: type[_Data]) -> _Data:
    """The data of ``image``'s application ``section`` ("bank", "pki"), which it must carry as a ``data_type``."""
    data = image.apps[section]
    assert isinstance(data, data_type)
    return data


def write_image(path: Path, profile: str = "gen2") -> Path:
    atomic_write(path, _template(profile))
    return path


def card(profile: str = "gen2", store: ImageStore | None = None, **kw: Any) -> CardOS:
    cos = CardOS(new_image(profile), store, **kw)
    cos.power_on()
    return cos


def sw(rsp: bytes) -> int:
    return int.from_bytes(rsp[-2:], "big")


def key(cos: CardOS, name: str, df: str = "SSSE") -> bytes:
    spec = cos.profile.df(df)
    ks = next(k for k in spec.keys if k.name == name)
    return cos.image.dfs[df].keys[ks.key_id].value


def external_auth(cos: CardOS, key_name: str, key_id: int, df: str = "SSSE", *, tamper: bool = False,
                  vector: bytes = bytes(range(8))) -> int:
    """GET CHALLENGE + EXTERNAL AUTHENTICATE with the card's own key; returns the SW."""
    rsp = cos.process(GET_CHALLENGE)
    assert sw(rsp) == 0x9000, rsp.hex()
    cryptogram = crypto.external_auth_cryptogram(cos.alg, key(cos, key_name, df), rsp[:-2], vector)
    if tamper:
        cryptogram = bytes([cryptogram[0] ^ 1]) + cryptogram[1:]
    return sw(cos.process(bytes((0x00, 0x82, 0x00, key_id, 0x10)) + cryptogram + vector))


def maced(cos: CardOS, header: bytes, body: bytes = b"", key_name: str = "STK", df: str = "SSSE", *,
          pin: str | None = None) -> bytes:
    """GET CHALLENGE R, then a CLA 04/84 command: body (or, with ``pin``, LV(PIN) enciphered under the
    process key) ‖ MAC under E_K(R) over header ‖ Lc ‖ body (docs/design.md §3 "Secure messaging")."""
    rsp = cos.process(GET_CHALLENGE)
    assert sw(rsp) == 0x9000, rsp.hex()
    challenge, k = rsp[:-2], key(cos, key_name, df)
    if pin is not None:
        body = crypto.sm_encipher(cos.alg, k, challenge, crypto.pin_to_bcd(pin))
    lc = len(body) + 4
    mac = crypto.sm_mac(cos.alg, k, challenge, header + bytes((lc,)) + body)
    return header + bytes((lc,)) + body + mac


def pin_admin(cos: CardOS) -> None:
    """EXTERNAL AUTHENTICATE with key 06 in SSSE, as PIN UNBLOCK and RELOAD need."""
    assert external_auth(cos, "RLK", cos.profile.pin_admin_key) == 0x9000


def verify(pin: str) -> bytes:
    bcd = crypto.pin_to_bcd(pin)
    return bytes((0x00, 0x20, 0x00, 0x00, len(bcd))) + bcd


def change_pin(old: str, new: str) -> bytes:
    body = crypto.pin_to_bcd(old) + b"\xFF" + crypto.pin_to_bcd(new)
    return bytes((0x80, 0x5E, 0x01, 0x00, len(body))) + body


def update_record(number: int, sfi: int, record: bytes, cla: int = 0x00) -> bytes:
    return bytes((cla, 0xDC, number, (sfi << 3) | 4, len(record))) + record
