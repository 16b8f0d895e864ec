"""iWriteCardBasExt: personalising the basic data (EF05/EF06) through the PSAM in one call (docs/sources.md §6.1
iWriteCardBas, §6.2 its pWriteData)."""
from __future__ import annotations

import pytest

from host import errors as E
from host.standard.formats import BASIC_WRITE_FIELDS, split_fields
from protocols.crypto import Alg

from tests.service.conftest import forged_keys, item_value, records, tries


def data(**values: str) -> str:
    """pWriteData with the given items (by name) and every other field empty."""
    return "".join(values.get(name, "") + "|" for _, name in BASIC_WRITE_FIELDS)


FULL = dict(init_org="440100000000000000000002", issue_date="20250102", expiry_date="20350102",
            card_number="C44010003", ssn="440106197001010022", name="司马", name_ext="相如", sex="1",
            ethnicity="02", birth_date="19700101")


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_write_card_bas_ext_personalises_ef05_and_ef06(make_driver, profile):
    driver, _ = make_driver(profile)
    card_id = split_fields(driver.iReadCardBas(1)[1])[3]
    assert driver.iWriteCardBasExt(1, "", data(card_id=card_id, **FULL)) == (0, "")
    fields = split_fields(driver.iReadCardBas(1)[1])
    assert fields[1:5] == ["440106197001010022", "C44010003", card_id, "司马相如"]
    assert fields[7:9] == ["20250102", "20350102"]
    for path, name in BASIC_WRITE_FIELDS[1:]:
        assert item_value(driver, path, name) == FULL[name]
    assert tries(driver, "SSSE", 0x04) == 3


def test_empty_fields_leave_items_and_the_name_extension_follows_the_name(make_driver):
    driver, _ = make_driver("gen2")
    assert driver.iWriteCardBasExt(1, "", data(name="诸葛", name_ext="孔明")) == (0, "")
    assert driver.iWriteCardBasExt(1, "", data(expiry_date="20401231")) == (0, "")
    assert item_value(driver, "SSSEEF06", "name_ext") == "孔明"       # not named: left as it was
    assert driver.iWriteCardBasExt(1, "", data(name="王五")) == (0, "")
    fields = split_fields(driver.iReadCardBas(1)[1])
    assert fields[4] == "王五" and fields[8] == "20401231" and fields[2] == "A44010001"
    assert item_value(driver, "SSSEEF06", "name_ext") == ""          # written with the name


@pytest.mark.parametrize("card_info, write, code", [
    ("", data(card_id="0" * 32, name="王五"), E.DATA_MISMATCH),       # the card ID is not this card's
    ("", data(card_id="440100", name="王五"), E.CARD_ID_FORMAT),
    ("|B00000000|", data(name="王五"), E.DATA_MISMATCH),
    ("", data(name="王五")[:-1], E.ILLEGAL_INPUT),                      # a field short
    ("", data(name="王五") + "|", E.ILLEGAL_INPUT),                     # a field too many
    ("", data(name="名" * 16), E.DATA_LENGTH),
    ("", data(name="王五", birth_date="1990010A"), E.ILLEGAL_CHARACTERS),
    ("", data(name="王$五"), E.ILLEGAL_CHARACTERS),
    ("", data(ethnicity="123"), E.DATA_LENGTH),
])
def test_write_card_bas_ext_checks_everything_before_writing(make_driver, card_info, write, code):
    driver, _ = make_driver("gen2")
    before = records(driver)
    assert driver.iWriteCardBasExt(1, card_info, write)[0] == code
    assert records(driver) == before and tries(driver, "SSSE", 0x04) == 3


def test_write_card_bas_ext_needs_a_psam(make_driver):
    driver, _ = make_driver("gen2", psam=None)
    before = records(driver)
    assert driver.iWriteCardBasExt(1, "", data(name="王五"))[0] == E.NO_PSAM
    assert records(driver) == before


def test_write_card_bas_ext_on_a_card_of_other_keys_is_refused_and_counted(make_driver):
    driver, _ = make_driver("gen2", issuer=forged_keys(Alg.DES3))
    before = records(driver)
    assert driver.iWriteCardBasExt(1, "", data(name="王五"))[0] == -0x63C2
    assert records(driver) == before and tries(driver, "SSSE", 0x04) == 2


def test_write_card_bas_ext_bad_itype(make_driver):
    driver, _ = make_driver("gen2")
    assert driver.iWriteCardBasExt(5, "", data(name="王五"))[0] == E.BAD_PARAMETER
