"""Issuance gives gen2 and gen3 cards the bank application with test-only data, unless asked not to."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.apps.bank import TEST_BIN, BankData
from firmware_sim.image import CardImage, load_card
from firmware_sim.issuance.batch import BatchConfig, read_people, run_batch
from firmware_sim.issuance.personalise import NO_BANK_HOLDER, new_card, bank_pan
from host.cli import main
from protocols import emv
from tests.support.cardkit import PERSON, app_data


def _bank(image: CardImage) -> BankData:
    return app_data(image, "bank", BankData)


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_gen2_and_gen3_cards_get_the_bank_application(profile: str) -> None:
    data = _bank(new_card(PERSON, profile=profile, serial=0x123456))
    assert data.pan == bank_pan(0x123456) and data.pan.startswith(TEST_BIN) and emv.luhn_valid(data.pan)
    assert len(data.pan) == 19 and (data.effective_date, data.expiry_date) == ("240301", "340301")
    assert data.holder_name == NO_BANK_HOLDER and data.note.startswith("TEST ONLY")


def test_the_bank_application_can_be_left_out_and_gen1_has_none() -> None:
    assert new_card(PERSON, profile="gen2", bank=False).apps == {}
    assert new_card(PERSON, profile="gen1").apps == {}
    with pytest.raises(ValueError, match="gen1 cards carry no bank application"):
        new_card(PERSON, profile="gen1", bank=True)


def test_holder_name_is_checked() -> None:
    assert _bank(new_card({**PERSON, "bank_holder_name": "CE/SHIYUAN"})).holder_name == "CE/SHIYUAN"
    for bad in ("测试员", "X", "Y" * 27):
        with pytest.raises(ValueError, match="bank_holder_name: expected 2 to 26 printable ASCII"):
            new_card({**PERSON, "bank_holder_name": bad})


def test_test_pans_are_distinct_and_pass_luhn() -> None:
    pans = {bank_pan(serial) for serial in (0, 1, 2, 0xFFFFFFFF, 123456789)}
    assert len(pans) == 5 and all(emv.luhn_valid(p) and p.startswith(TEST_BIN) for p in pans)


def test_batch_gives_the_application_and_can_leave_it_out(tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("name,ssn,card_number,profile,bank_holder_name\n"
                   "张三,440106199001011235,A00000001,,ZHANG/SAN\n"
                   "李四,44030419920721452X,A00000002,gen3,\n"
                   "王五,440106199001011235,A00000003,gen1,\n"
                   "赵六,440106199001011235,A00000004,,赵六\n", encoding="utf-8")
    result = run_batch(read_people(csv), BatchConfig(tmp_path / "out", photo_dir=tmp_path))
    assert result.issued == 3 and [e.line for e in result.errors] == [5]
    assert "bank_holder_name" in result.errors[0].message
    one, two, three = (load_card(tmp_path / "out" / f"A0000000{n}.json") for n in (1, 2, 3))
    assert _bank(one).holder_name == "ZHANG/SAN" and _bank(two).holder_name == NO_BANK_HOLDER
    assert _bank(one).pan != _bank(two).pan and three.apps == {}
    none = run_batch(read_people(csv), BatchConfig(tmp_path / "none", photo_dir=tmp_path, bank=False))
    assert none.issued == 4 and all("bank" not in load_card(p).apps for p in (tmp_path / "none").glob("*.json"))


def test_cli_card_new_and_batch_take_no_bank(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["card", "new", "--name", "李雷", "--ssn", "440106200001011230", "--card-number", "E44010001"]
    assert main(args + ["--out", str(tmp_path / "a.json"), "--bank-holder-name", "LI/LEI"]) == 0
    assert _bank(load_card(tmp_path / "a.json")).holder_name == "LI/LEI"
    assert main(args + ["--out", str(tmp_path / "b.json"), "--no-bank"]) == 0
    assert load_card(tmp_path / "b.json").apps == {}
    csv = tmp_path / "p.csv"
    csv.write_text("name,ssn,card_number\n李雷,440106200001011230,E44010001\n", encoding="utf-8")
    assert main(["card", "batch", str(csv), "--out", str(tmp_path / "out"), "--quiet", "--no-bank"]) == 0
    assert load_card(tmp_path / "out" / "E44010001.json").apps == {}
    capsys.readouterr()


def test_bank_application_refuses_dates_outside_its_century() -> None:
    """EMV dates are YYMMDD: a card dated past 2099 is issued without the bank application, or refused."""
    person = {**PERSON, "issue_date": "20990101", "expiry_date": "21090101"}
    with pytest.raises(ValueError, match="2000-2099"):
        new_card(person, profile="gen2", serial=5)
    assert "bank" not in new_card(person, profile="gen2", serial=5, bank=False).apps
