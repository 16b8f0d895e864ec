"""Fuzzing the card- and PSAM-image loaders.

A damaged image (mutated JSON structure or mutated text) raises ``BadCardImage`` and nothing else. An image
that loads is usable: it round-trips through ``to_json`` and the card OS answers commands on it without
raising (``Device.process`` never raises).
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, strategies as st

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_psam
from firmware_sim.image import CardImage, load_card
from firmware_sim.psam import PsamOS
from firmware_sim.psam_image import PsamImage, load_psam
from protocols.errors import BadCardImage
from tests.fuzz.support import budget, valid_sw
from tests.support import cardkit as ck

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300) | st.sampled_from([1.5, -0.0, 1e300]) |
    st.text(max_size=12) | st.sampled_from(["00", "0" * 16, "F" * 32, "123456", "440100", "gen3", "SM4", "9F"]),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
    max_leaves=6)

SCRIPT = [ck.SELECT_SSSE, bytes.fromhex("00C0000000"), bytes.fromhex("00B2012C00"), bytes.fromhex("00B2010C00"),
          ck.GET_CHALLENGE, bytes.fromhex("0088000010") + bytes(16), ck.verify("123456"), ck.verify("000000"),
          bytes.fromhex("00B0870000"), bytes.fromhex("00A4040006D15600000500"), bytes.fromhex("00B2012C00"),
          bytes.fromhex("00B2013C00"), ck.change_pin("123456", "654321")]


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, prefix + (i,))
    return out


def mutate_doc(doc: Any, data: st.DataObject) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths(doc)))
        if not where:
            return data.draw(json_values)
        parent = doc
        for k in where[:-1]:
            parent = parent[k]
        last = where[-1]
        action = data.draw(st.integers(0, 3))
        if action == 0 and isinstance(parent, dict):
            del parent[last]
        elif action == 0 and isinstance(parent, list):
            parent.pop(last)
        elif action == 1 and isinstance(parent[last], str):
            text = parent[last]
            cut = data.draw(st.integers(0, len(text)))
            parent[last] = text[:cut] + data.draw(st.text(max_size=3)) + text[cut + 1:]
        elif action == 2 and isinstance(parent[last], (list, dict)):
            parent[last] = type(parent[last])()
        elif action == 2 and isinstance(parent[last], str):          # hex of another length
            parent[last] = data.draw(st.binary(max_size=26)).hex().upper()
        else:
            parent[last] = data.draw(json_values)
    return doc


def card_works(card: CardImage) -> None:
    assert CardImage.from_json(json.loads(json.dumps(card.to_json()))).to_json() == card.to_json()
    cos = CardOS(card)
    cos.power_on()
    for apdu in SCRIPT:
        rsp = cos.process(apdu)
        assert valid_sw(int.from_bytes(rsp[-2:], "big")), (apdu.hex(), rsp.hex())


@budget(400)
@given(st.sampled_from(["gen2", "gen3"]), st.data())
def test_mutated_card_documents(profile: str, data: st.DataObject) -> None:
    doc = mutate_doc(ck.new_image(profile).to_json(), data)
    try:
        card = CardImage.from_json(doc)
    except BadCardImage:
        return
    card_works(card)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("image-fuzz") / "card.json"


@budget(200)
@given(profile=st.sampled_from(["gen2", "gen3"]), data=st.data())
def test_mutated_card_text(scratch: Path, profile: str, data: st.DataObject) -> None:
    text = bytearray(json.dumps(ck.new_image(profile).to_json(), ensure_ascii=False, indent=1).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.integers(0, 2))
        if op == 0:
            text[i] = data.draw(st.integers(0, 255))
        elif op == 1:
            del text[i:i + data.draw(st.integers(1, 40))]
        else:
            text[i:i] = data.draw(st.sampled_from([b"[", b"{", b'"', b"0", b"-", b"\\", b"\xff", b"\xe4\xb8"]))
    scratch.write_bytes(bytes(text))
    try:
        card = load_card(scratch)
    except BadCardImage:
        return
    card_works(card)


def test_deeply_nested_json_is_a_bad_image(tmp_path: Path) -> None:
    f = tmp_path / "deep.json"
    f.write_text("[" * 100_000, encoding="utf-8")
    try:
        load_card(f)
    except BadCardImage:
        return
    raise AssertionError("a deeply nested document loaded")


@pytest.mark.parametrize("profile, where, value", [
    ("gen3", ("dfs", "SSSE", "keys", "IRK", "value"), "00" * 8),      # an SM4 card with a DES-sized key
    ("gen3", ("dfs", "DF01", "keys", "DF01.STK", "value"), "00" * 24),
    ("gen2", ("dfs", "DF04", "keys", "DF04.STK", "value"), "00" * 5),      # no key has 5 bytes
    ("gen2", ("pin", "tries_left"), True),                           # JSON true is not a count
    ("gen2", ("dfs", "SSSE", "keys", "UK", "tries_left"), False),
])
def test_found_by_fuzzing_images_the_card_os_could_not_use(profile: str, where: tuple[str, ...],
                                                           value: Any) -> None:
    doc = ck.new_image(profile).to_json()
    node = doc
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    with pytest.raises(BadCardImage):
        CardImage.from_json(doc)


@pytest.mark.parametrize("kind", ["gen2", "gen3", "psam"])
def test_an_image_of_the_old_format_is_refused_naming_the_file(tmp_path: Path, kind: str) -> None:
    """"sscard.card/1" and "sscard.psam/1" images hold keys of the old recipes: refused, even when everything else
    is well formed."""
    load: Callable[[Path], object]
    if kind == "psam":
        doc, load, name = demo_psam("440100").to_json(), load_psam, "psam"
    else:
        doc, load, name = ck.new_image(kind).to_json(), load_card, "card"
    assert doc["format"] == f"sscard.{name}/2"
    doc["format"] = f"sscard.{name}/1"
    f = tmp_path / f"old-{name}.json"
    f.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(BadCardImage) as exc:
        load(f)
    assert str(f) in str(exc.value) and f"sscard.{name}/1" in str(exc.value)


@budget(300)
@given(st.data())
def test_mutated_psam_documents(data: st.DataObject) -> None:
    doc = mutate_doc(demo_psam("440100").to_json(), data)
    try:
        psam = PsamImage.from_json(doc)
    except BadCardImage:
        return
    assert PsamImage.from_json(json.loads(json.dumps(psam.to_json()))) == psam
    os_ = PsamOS(psam)
    os_.power_on()
    for apdu in (bytes.fromhex("00B0960006"), bytes.fromhex("00B095000F"), bytes.fromhex("00A4040006D15600000590"),
                 bytes.fromhex("BFDE470A10") + bytes(16), bytes.fromhex("80FA000008") + bytes(8),
                 bytes.fromhex("00A4040006D15600000591"), bytes.fromhex("BFDE480918") + bytes(24),
                 bytes.fromhex("80FA050020") + bytes(32), bytes.fromhex("801A670820") + bytes(32),
                 bytes.fromhex("80FA000010") + bytes(16)):
        rsp = os_.process(apdu)
        assert valid_sw(int.from_bytes(rsp[-2:], "big")), (apdu.hex(), rsp.hex())
