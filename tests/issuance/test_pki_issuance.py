"""Issuance gives gen3 cards the PKI application: a key pair the card generated and a certificate of the shipped
test CA for it; gen2 cards have none; the demo cards follow (docs/design.md §3.4)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_sim.apps.pki import PIN_TRIES, PkiData, pin_key
from firmware_sim.card_os import CardOS
from firmware_sim.demo import DEMO_PEOPLE, demo_card
from firmware_sim.image import CardImage, load_card
from firmware_sim.issuance import pki as pki_issuance
from firmware_sim.issuance.batch import BatchConfig, read_people, run_batch
from firmware_sim.issuance.ca import TestCA, shipped
from firmware_sim.issuance.personalise import new_card
from host.cli import main
from protocols import sm2, x509
from tests.support.cardkit import PERSON, app_data


def _pki(image: CardImage) -> PkiData:
    return app_data(image, "pki", PkiData)


def test_gen3_cards_get_a_key_and_a_certificate_of_the_test_ca() -> None:
    image = new_card(PERSON, profile="gen3", region="440300", serial=7, pin="246810")
    data = _pki(image)
    cert = x509.parse(data.sign_certificate)
    assert cert.public_key == data.sign_public_key and cert.signed_by(shipped().cert.public_key)
    assert cert.subject == (("C", "CN"), ("ST", "广东省"), ("L", "深圳市"), ("CN", "测试员"),
                            ("serialNumber", "T44010001"))
    assert cert.issuer == shipped().cert.subject and cert.key_usage == x509.SIGNING
    assert (cert.not_before.strftime("%Y%m%d"), cert.not_after.strftime("%Y%m%d")) == ("20240301", "20340301")
    assert data.pin_key == pin_key("246810") and data.pin_tries_left == data.pin_max_tries == PIN_TRIES
    assert data.note.startswith("TEST ONLY")
    assert sm2.verify(data.sign_public_key, b"m", sm2.sign(data.sign_private_key, data.sign_public_key, b"m"))
    again = _pki(new_card(PERSON, profile="gen3", region="440300", serial=7))
    assert again.sign_public_key != data.sign_public_key          # each card makes its own key


def test_the_key_comes_from_the_card(monkeypatch: pytest.MonkeyPatch) -> None:
    """The factory never makes the key: it sends GENERATE KEY PAIR and reads the public key back."""
    sent: list[bytes] = []
    process = CardOS.process

    def spy(self: CardOS, apdu: bytes) -> bytes:
        sent.append(apdu[:4])
        return process(self, apdu)
    monkeypatch.setattr(CardOS, "process", spy)
    new_card(PERSON, profile="gen3", region="440300")
    assert bytes.fromhex("80400000") in sent and bytes.fromhex("80C98280") in sent


def test_a_given_ca_and_the_regions_names() -> None:
    ca = TestCA.create()
    cert = x509.parse(_pki(new_card(PERSON, profile="gen3", region="110105", ca=ca)).sign_certificate)
    assert cert.signed_by(ca.cert.public_key) and not cert.signed_by(shipped().cert.public_key)
    assert pki_issuance.subject_name(PERSON, "110105")[:3] == (("C", "CN"), ("ST", "北京市"), ("L", "朝阳区"))


def test_gen2_cards_have_none_and_the_application_can_be_left_out() -> None:
    assert "pki" not in new_card(PERSON, profile="gen2").apps
    assert "pki" not in new_card(PERSON, profile="gen3", region="440300", pki=False).apps
    with pytest.raises(ValueError, match="gen2 cards carry no PKI application"):
        new_card(PERSON, profile="gen2", pki=True)


def test_card_new_and_batch_options(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    args = ["card", "new", "--out", str(out), "--name", "测试员", "--ssn", "440106199001011235", "--card-number",
            "T44010001", "--profile", "gen3", "--region", "440300"]
    assert main(args) == 0 and "pki" in load_card(out).apps
    assert main(args + ["--force", "--no-pki"]) == 0 and "pki" not in load_card(out).apps
    people = tmp_path / "people.csv"
    people.write_text("name,ssn,card_number,profile,region\n李四,440106199001011235,A00000001,gen2,440100\n"
                      "王五,44030419920721452X,B00000002,gen3,440300\n", encoding="utf-8")
    result = run_batch(read_people(people), BatchConfig(tmp_path / "out"))
    assert result.ok and result.issued == 2
    assert "pki" not in load_card(tmp_path / "out" / "A00000001.json").apps
    gen3 = _pki(load_card(tmp_path / "out" / "B00000002.json"))
    assert ("CN", "王五") in x509.parse(gen3.sign_certificate).subject
    result = run_batch(read_people(people), BatchConfig(tmp_path / "none", pki=False))
    assert result.ok and "pki" not in load_card(tmp_path / "none" / "B00000002.json").apps


@pytest.mark.parametrize("name", sorted(DEMO_PEOPLE))
def test_the_demo_cards(name: str) -> None:
    image = demo_card(name)
    if image.profile.name != "gen3":
        assert "pki" not in image.apps
        return
    data = _pki(image)
    cert = x509.parse(data.sign_certificate)
    assert cert.signed_by(shipped().cert.public_key) and ("CN", DEMO_PEOPLE[name][3]["name"]) in cert.subject
    assert data.pin_key == pin_key("123456")


def test_the_ca_file_is_json_with_its_note(tmp_path: Path) -> None:
    doc = shipped().to_json()
    assert doc["format"] == "sscard.test-ca/1" and doc["note"].startswith("TEST ONLY")
    assert TestCA.from_json(json.loads(json.dumps(doc))) == shipped()
