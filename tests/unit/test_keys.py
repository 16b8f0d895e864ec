"""Tests for protocols.keys: test issuer key sets, derivation to PSAM-level and card keys, JSON form."""
from __future__ import annotations

import json
from typing import Any

import pytest

from protocols import crypto
from protocols.crypto import Alg
from protocols.keys import KEY_NAMES, TEST_ONLY, IssuerKeys, test_issuer_keys

H = bytes.fromhex
ATR = H("3B6D0000") + H("00814E43238697159900BF7C7A")
EXPECTED_NAMES = {"IRK", "MK", "UK", "RK", "EK0D", "RLK", "STK",
                  "DF01.RK", *(f"DF01.UK{n}" for n in range(1, 8)), "DF01.STK",
                  "DF02.RK", *(f"DF02.UK{n}" for n in range(1, 7)), "DF02.STK",
                  "DF03.RK", "DF03.RK2", *(f"DF03.UK{n}" for n in range(1, 9)), "DF03.STK",
                  "DF04.RK", "DF04.STK", "DF04.DPK", "DF04.DTK",
                  "DF05.RK", "DF05.UK1", "DF05.STK", "DF06.RK", "DF06.UK1", "DF06.STK",
                  "DF07.RK", "DF07.RK2", "DF07.RK3", "DF07.UK1", "DF07.STK"}


@pytest.fixture(params=[Alg.DES3, Alg.SM4], ids=["des3", "sm4"])
def keyset(request: pytest.FixtureRequest) -> IssuerKeys:
    return test_issuer_keys(request.param)


def test_key_names() -> None:
    assert set(KEY_NAMES) == EXPECTED_NAMES and len(KEY_NAMES) == len(EXPECTED_NAMES)


def test_test_keys_are_labelled_and_complete(keyset: IssuerKeys) -> None:
    assert TEST_ONLY in keyset.label and keyset.is_test_only
    assert set(keyset.keys) == EXPECTED_NAMES
    assert all(len(k) == 16 for k in keyset.keys.values())
    assert len(set(keyset.keys.values())) == len(KEY_NAMES)  # every key distinct


def test_test_keys_are_deterministic_and_per_alg() -> None:
    des1, des2, sm4 = test_issuer_keys(Alg.DES3), test_issuer_keys(Alg.DES3), test_issuer_keys(Alg.SM4)
    assert des1 == des2 and dict(des1.keys) == dict(des2.keys)
    assert des1.alg is Alg.DES3 and sm4.alg is Alg.SM4
    assert not set(des1.keys.values()) & set(sm4.keys.values())
    # the documented seed recipe, so other tools can reproduce the keys
    assert des1.keys["IRK"] == crypto.sm3(b"sscard TEST ONLY DES3/IRK")[:16]
    assert sm4.keys["DF01.RK"] == crypto.sm3(b"sscard TEST ONLY SM4/DF01.RK")[:16]


def test_keys_are_read_only_and_not_in_repr(keyset: IssuerKeys) -> None:
    with pytest.raises(TypeError):
        keyset.keys["IRK"] = bytes(16)  # type: ignore[index]  # the point: the mapping is read-only
    text = repr(keyset)
    assert all(k.hex() not in text.lower() for k in keyset.keys.values())
    hash(keyset)  # usable as a dict key despite the mapping field


def test_constructor_copies_input() -> None:
    raw = dict(test_issuer_keys(Alg.SM4).keys)
    ks = IssuerKeys("x", Alg.SM4, raw)
    raw["IRK"] = bytes(16)
    assert ks.keys["IRK"] != bytes(16)


def test_city_and_card_keys(keyset: IssuerKeys) -> None:
    alg = keyset.alg
    city = keyset.city_keys("440100")
    card = keyset.card_keys("440100", ATR)
    assert set(city) == set(card) == EXPECTED_NAMES
    for name, root in keyset.keys.items():
        province = crypto.diversify(alg, root, b"440000sh")
        assert city[name] == crypto.diversify(alg, province, b"440100sx")
        assert card[name] == crypto.diversify(alg, city[name], ATR[-8:])
        assert card[name] == crypto.derive_card_key(alg, root, "440100", ATR)
    assert keyset.city_keys("440300")["IRK"] != city["IRK"]
    assert keyset.card_keys("440100", ATR[:-1] + b"\x00")["IRK"] != card["IRK"]


def test_level_keys_are_what_a_psam_stores(keyset: IssuerKeys) -> None:
    """3 levels: the root key; 2: the province key; 1: the city key."""
    alg, root = keyset.alg, keyset.keys["UK"]
    assert keyset.level_key("UK", "440100", 3) == root
    assert keyset.level_key("UK", "440100", 2) == crypto.diversify(alg, root, b"440000sh")
    assert keyset.level_key("UK", "440100", 1) == keyset.city_keys("440100")["UK"]
    with pytest.raises(ValueError):
        keyset.level_key("UK", "440100", 4)


def test_card_keys_reject_bad_region_or_atr(keyset: IssuerKeys) -> None:
    with pytest.raises(ValueError):
        keyset.city_keys("44010")
    with pytest.raises(ValueError):
        keyset.card_keys("440100", bytes(4))


# --- JSON -------------------------------------------------------------------------------------------
def test_json_dict_round_trip(keyset: IssuerKeys) -> None:
    data = keyset.to_json_dict()
    assert data["alg"] == keyset.alg.name
    assert data["keys"]["IRK"] == keyset.keys["IRK"].hex().upper()
    assert json.loads(json.dumps(data)) == data  # plain JSON types only
    back = IssuerKeys.from_json_dict(data)
    assert back == keyset and dict(back.keys) == dict(keyset.keys)


def test_json_text_round_trip(keyset: IssuerKeys) -> None:
    text = keyset.to_json()
    assert text.endswith("\n") and TEST_ONLY in text
    assert IssuerKeys.from_json(text) == keyset


def test_from_json_accepts_lower_case_hex_and_single_des_key() -> None:
    data = test_issuer_keys(Alg.DES3).to_json_dict()
    data["keys"] = {name: value.lower() for name, value in data["keys"].items()}
    data["keys"]["STK"] = "0123456789abcdef"  # some STKs are single DES (docs/sources.md §4.1)
    ks = IssuerKeys.from_json_dict(data)
    assert ks.keys["STK"] == H("0123456789ABCDEF")
    assert len(ks.city_keys("440100")["STK"]) == 16


def _good() -> dict[str, Any]:
    return test_issuer_keys(Alg.SM4).to_json_dict()


def _without_key(name: str) -> dict[str, Any]:
    data = _good()
    del data["keys"][name]
    return data


def _with(path: tuple[str, ...], value: object) -> dict[str, Any]:
    data = _good()
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_without_key("STK"), "missing key(s): STK"),
        (_with(("keys", "XYZ"), "00" * 16), "unknown key name(s): XYZ"),
        (_with(("keys", "IRK"), "00" * 8), "key IRK: SM4 keys are 16 bytes, got 8"),
        (_with(("keys", "MK"), "00" * 17), "key MK: SM4 keys are 16 bytes, got 17"),
        (_with(("keys", "UK"), "zz" * 16), "key UK: not a hex string"),
        (_with(("keys", "UK"), 1234), "key UK: expected a hex string"),
        (_with(("alg",), "SSF33"), "unknown alg 'SSF33'"),
        (_with(("alg",), 3), "unknown alg 3"),
        (_with(("label",), None), "'label' must be a string"),
        (_with(("keys",), ["00"]), "'keys' must be an object"),
        ({"alg": "SM4", "keys": {}}, "missing field 'label'"),
        ({"label": "x", "keys": {}}, "missing field 'alg'"),
        ({"label": "x", "alg": "SM4"}, "missing field 'keys'"),
        ([], "must be a JSON object"),
    ],
)
def test_from_json_dict_rejects(data: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        IssuerKeys.from_json_dict(data)
    assert message in str(info.value)


def test_des3_key_length_rule() -> None:
    data = test_issuer_keys(Alg.DES3).to_json_dict()
    data["keys"]["RK"] = "00" * 12
    with pytest.raises(ValueError, match="key RK: DES3 keys are 8/16/24 bytes, got 12"):
        IssuerKeys.from_json_dict(data)


def test_constructor_rejects_unknown_alg() -> None:
    with pytest.raises(ValueError, match="unknown algorithm"):
        IssuerKeys("x", 2, dict(test_issuer_keys(Alg.SM4).keys))  # type: ignore[arg-type]  # the point: an int that is no Alg


def test_from_json_rejects_bad_text() -> None:
    with pytest.raises(ValueError):
        IssuerKeys.from_json("{not json")
