"""iReadCard_HSM and iWriteCard_HSM with the software HSM answering the steps (docs/sources.md §6.4):
what each step outputs, that the card accepts the HSM's answers and refuses wrong ones (counting the try), and the
interface's codes for steps out of order and bad inputs, the card's data unchanged."""
from __future__ import annotations

import pytest

from firmware_sim.hsm import SoftwareHsm
from host import errors as E
from host.standard.formats import split_fields
from protocols.atr import historical_bytes
from protocols.crypto import Alg

from tests.service.conftest import PEOPLE, forged_keys, item_value, records, tries

READ = "SSSEEF05|07|$DF01EF06|24|28|$SSSEEF0D|EB|$"


# --- iReadCard_HSM -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_read_card_hsm_gives_iread_cards_output(make_driver, profile):
    driver, _ = make_driver(profile)
    code, step1 = driver.iReadCard_HSM_Step1(3, "", READ)
    assert code == 0
    f = split_fields(step1)
    assert len(f) == 9
    region, atr, alg, card_id, ia_factor, ia_data, address, ea_factor, ea_data = f
    assert alg == ("03" if profile == "gen3" else "01") and card_id.startswith(region)
    assert atr == historical_bytes(driver.contact.card.atr).hex().upper()
    assert len(ia_factor) == len(ia_data) == len(ea_factor) == len(ea_data) == 16
    assert address == "004F2E"                        # DF01's read key (docs/sources.md §4.2, S34)
    code, out = driver.iReadCard_HSM_Step2(SoftwareHsm().read_card(step1))
    assert code == 0
    assert out == driver.iReadCard(1, 2, "", READ)[1]
    number = PEOPLE[region]["card_number"]
    assert out.startswith(f"SSSEEF05|{number}|$DF01EF06|") and "|$SSSEEF0D|" in out   # pFileAddr's order


def test_read_card_hsm_without_a_psam(make_driver):
    """The HSM stands in for the PSAM: gen3's EF06 (key 0A) reads with no PSAM in the terminal."""
    driver, _ = make_driver("gen3", psam=None)
    _, step1 = driver.iReadCard_HSM_Step1(1, "", "SSSEEF06|08|09|$SSSEEF05|07|$")
    assert split_fields(step1)[6] == "004C0A"         # RKSSSE
    code, out = driver.iReadCard_HSM_Step2(SoftwareHsm().read_card(step1))
    person = PEOPLE["440300"]
    assert (code, out) == (0, f"SSSEEF06|{person['ssn']}|{person['name']}|$SSSEEF05|{person['card_number']}|$")


def test_read_card_hsm_of_free_files_asks_no_key(make_driver):
    driver, _ = make_driver("gen2", psam=None)
    _, step1 = driver.iReadCard_HSM_Step1(1, "", "SSSEEF05|07|$")
    assert split_fields(step1)[6:] == ["", "", ""]
    pkey = SoftwareHsm().read_card(step1)
    assert pkey.endswith("||")
    assert driver.iReadCard_HSM_Step2(pkey) == (0, "SSSEEF05|A44010001|$")


def test_read_card_hsm_pin_file_asks_the_holder(make_driver):
    driver, pad = make_driver("gen2", "000000", "123456", psam=None)
    _, step1 = driver.iReadCard_HSM_Step1(1, "", "DF03EF19|$")
    assert driver.iReadCard_HSM_Step2(SoftwareHsm().read_card(step1))[0] == E.PIN_VERIFY_FAILED
    _, step1 = driver.iReadCard_HSM_Step1(1, "", "DF03EF19|$")
    code, out = driver.iReadCard_HSM_Step2(SoftwareHsm().read_card(step1))
    assert code == 0 and out.startswith("DF03EF19|123,440100,20150701,") and len(pad.prompts) == 2


def test_read_card_hsm_other_keys_disagree_minus_25(make_driver):
    driver, _ = make_driver("gen2")
    _, step1 = driver.iReadCard_HSM_Step1(1, "", READ)
    before = tries(driver, "DF01", 0x88)
    pkey = SoftwareHsm([forged_keys(Alg.DES3)]).read_card(step1)
    assert driver.iReadCard_HSM_Step2(pkey)[0] == E.HSM_MISMATCH
    assert tries(driver, "DF01", 0x88) == before      # refused before the card was asked anything


def test_read_card_hsm_wrong_ea_is_refused_and_counted(make_driver):
    driver, _ = make_driver("gen2")
    _, step1 = driver.iReadCard_HSM_Step1(1, "", READ)
    ia = split_fields(SoftwareHsm().read_card(step1))[0]
    code, out = driver.iReadCard_HSM_Step2(f"{ia}|{'11' * 16}|")
    assert code == -0x63C2 and "A44010001" not in out
    assert tries(driver, "DF01", 0x88) == 2
    _, step1 = driver.iReadCard_HSM_Step1(1, "", READ)          # a right answer restores the counter
    assert driver.iReadCard_HSM_Step2(SoftwareHsm().read_card(step1))[0] == 0
    assert tries(driver, "DF01", 0x88) == 3


def test_read_card_hsm_steps_out_of_order_are_minus_23(make_driver):
    driver, _ = make_driver("gen2")
    assert driver.iReadCard_HSM_Step2("00" * 16 + "||")[0] == E.ILLEGAL_INPUT
    _, step1 = driver.iReadCard_HSM_Step1(1, "", READ)
    pkey = SoftwareHsm().read_card(step1)
    assert driver.iReadCardBas_HSM_Step2(pkey)[0] == E.ILLEGAL_INPUT          # another flow's step ends this one
    assert driver.iReadCard_HSM_Step2(pkey)[0] == E.ILLEGAL_INPUT
    _, step1 = driver.iReadCard_HSM_Step1(1, "", READ)
    pkey = SoftwareHsm().read_card(step1)
    assert driver.iReadCard_HSM_Step2(pkey)[0] == 0
    assert driver.iReadCard_HSM_Step2(pkey)[0] == E.ILLEGAL_INPUT             # a finished flow has no Step 2


@pytest.mark.parametrize("pkey", ["zz|", "00" * 8 + "|", "00" * 16 + "|" + "00" * 15 + "|", "a|b|c|", ""])
def test_read_card_hsm_malformed_pkey_is_minus_23(make_driver, pkey):
    driver, _ = make_driver("gen2")
    driver.iReadCard_HSM_Step1(1, "", READ)
    before = tries(driver, "DF01", 0x88)
    assert driver.iReadCard_HSM_Step2(pkey)[0] == E.ILLEGAL_INPUT
    assert tries(driver, "DF01", 0x88) == before


@pytest.mark.parametrize("addr, card_info, code", [
    ("SSSEEF05|07", "", E.ILLEGAL_INPUT),                     # no closing $
    ("DF09EF99|01|$", "", -0x6A82),                          # no such file
    ("SSSEEF08|02|$", "", E.ILLEGAL_INPUT),                  # a binary file's only item is 01
    ("DF02EF07|$", "", E.ILLEGAL_INPUT),                     # a cyclic file, read by record
    ("DF01EF06|24|$DF02EF07:01$", "", E.ILLEGAL_INPUT),       # two keys: one HSM flow each
    ("SSSEEF05|07|$", "0" * 32 + "|", E.DATA_MISMATCH),       # another card
    ("SSSEEF05|07|$", "XYZ|", E.CARD_ID_FORMAT),
])
def test_read_card_hsm_step1_checks_its_inputs(make_driver, addr, card_info, code):
    driver, _ = make_driver("gen2")
    assert driver.iReadCard_HSM_Step1(1, card_info, addr)[0] == code
    assert driver.iReadCard_HSM_Step2("00" * 16 + "||")[0] == E.ILLEGAL_INPUT     # no flow was left open


def test_read_card_hsm_bad_itype_is_minus_14(make_driver):
    driver, _ = make_driver("gen2")
    assert driver.iReadCard_HSM_Step1(0, "", READ)[0] == E.BAD_PARAMETER


# --- iWriteCard_HSM ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_write_card_hsm_writes_what_the_card_then_holds(make_driver, profile):
    driver, _ = make_driver(profile, psam=None)
    code, step1 = driver.iWriteCard_HSM_Step1(1, "", "SSSEEF06|09|4E|0A|$")
    assert code == 0
    region, atr, alg, card_id, address, ea_factor, ea_data = split_fields(step1)
    assert address == "009412" and len(ea_factor) == len(ea_data) == 16      # UKSSSE, key 04
    assert card_id.startswith(region) and alg == ("03" if profile == "gen3" else "01")
    pkey = SoftwareHsm().write_card(step1)
    assert driver.iWriteCard_HSM_Step2(pkey, "SSSEEF06|欧阳|娜娜|2|$") == (0, "")
    assert [item_value(driver, "SSSEEF06", n) for n in ("name", "name_ext", "sex")] == ["欧阳", "娜娜", "2"]
    assert tries(driver, "SSSE", 0x04) == 3


def test_write_card_hsm_in_an_application_df(make_driver):
    driver, _ = make_driver("gen2", psam=None)
    _, step1 = driver.iWriteCard_HSM_Step1(1, "", "DF01EF06|28|24|$")
    assert split_fields(step1)[4] == "017925"                 # DF01 EF06's update key (S34)
    assert driver.iWriteCard_HSM_Step2(SoftwareHsm().write_card(step1), "DF01EF06|13912345678|440104|$") == (0, "")
    assert item_value(driver, "DF01EF06", "phone") == "13912345678"
    assert item_value(driver, "DF01EF06", "residence_region") == "440104"


def test_write_card_hsm_wrong_answer_is_refused_counted_and_writes_nothing(make_driver):
    driver, _ = make_driver("gen3", psam=None)
    before = records(driver)
    _, step1 = driver.iWriteCard_HSM_Step1(1, "", "SSSEEF06|09|$")
    pkey = SoftwareHsm([forged_keys(Alg.SM4)]).write_card(step1)
    assert driver.iWriteCard_HSM_Step2(pkey, "SSSEEF06|王五|$")[0] == -0x63C2
    assert records(driver) == before and tries(driver, "SSSE", 0x04) == 2
    assert driver.iWriteCard_HSM_Step2(SoftwareHsm().write_card(step1), "SSSEEF06|王五|$")[0] == E.ILLEGAL_INPUT


def test_a_recorded_write_answer_does_not_fit_a_new_challenge(make_driver):
    driver, _ = make_driver("gen2", psam=None)
    _, first = driver.iWriteCard_HSM_Step1(1, "", "SSSEEF06|09|$")
    recorded = SoftwareHsm().write_card(first)
    assert driver.iWriteCard_HSM_Step2(recorded, "SSSEEF06|王五|$") == (0, "")
    driver.iWriteCard_HSM_Step1(1, "", "SSSEEF06|09|$")
    assert driver.iWriteCard_HSM_Step2(recorded, "SSSEEF06|赵六|$")[0] == -0x63C2
    assert item_value(driver, "SSSEEF06", "name") == "王五"


@pytest.mark.parametrize("data, code", [
    ("SSSEEF06|" + "名" * 16 + "|1|$", E.DATA_LENGTH),          # 32 bytes of GBK in a 30-byte item
    ("SSSEEF06|王五|1|2|$", E.ILLEGAL_INPUT),                    # a value too many
    ("SSSEEF06|王五$|1|$", E.ILLEGAL_INPUT),                     # $ splits the segment
    ("SSSEEF05|王五|1|$", E.ILLEGAL_INPUT),                      # not Step 1's file
    ("SSSEEF06|王\x00五|1|$", E.ILLEGAL_CHARACTERS),
    ("SSSEEF06|王五|€|$", E.ILLEGAL_CHARACTERS),                 # not GBK
])
def test_write_card_hsm_checks_every_value_before_authenticating(make_driver, data, code):
    driver, _ = make_driver("gen2", psam=None)
    before = records(driver)
    _, step1 = driver.iWriteCard_HSM_Step1(1, "", "SSSEEF06|09|0A|$")
    assert driver.iWriteCard_HSM_Step2(SoftwareHsm().write_card(step1), data)[0] == code
    assert records(driver) == before and tries(driver, "SSSE", 0x04) == 3    # nothing reached the card


@pytest.mark.parametrize("pkey", ["zz" * 16, "00" * 15, "00" * 17, ""])
def test_write_card_hsm_malformed_pkey_is_minus_23(make_driver, pkey):
    driver, _ = make_driver("gen2", psam=None)
    before = records(driver)
    driver.iWriteCard_HSM_Step1(1, "", "SSSEEF06|09|$")
    assert driver.iWriteCard_HSM_Step2(pkey, "SSSEEF06|王五|$")[0] == E.ILLEGAL_INPUT
    assert records(driver) == before and tries(driver, "SSSE", 0x04) == 3


@pytest.mark.parametrize("addr, code", [
    ("SSSEEF06|09|$DF01EF06|28|$", E.ILLEGAL_INPUT),          # two update keys
    ("DF04EF05|81|$", E.NOT_SUPPORTED),                       # secure messaging: a MAC per record
    ("SSSEEF06|$", E.ILLEGAL_INPUT),                          # no items named
    ("SSSEEF06|44|$", -0x6A83),                               # an item the file lacks
    ("DF09EF06|09|$", -0x6A82),
    ("SSSEEF08|02|$", E.ILLEGAL_INPUT),                       # a binary file's only item is 01
    ("DF04EF08:01$", E.NOT_SUPPORTED),                        # a cyclic file whose records the profile leaves raw
    ("DF02EF07:02$", E.ILLEGAL_INPUT),                        # a new record is :01
    ("SSSEEF06|09", E.ILLEGAL_INPUT),
])
def test_write_card_hsm_step1_checks_its_inputs(make_driver, addr, code):
    driver, _ = make_driver("gen2", psam=None)
    assert driver.iWriteCard_HSM_Step1(1, "", addr)[0] == code
    assert driver.iWriteCard_HSM_Step2("00" * 16, "SSSEEF06|王五|$")[0] == E.ILLEGAL_INPUT


def test_write_card_hsm_checks_the_card_info(make_driver):
    driver, _ = make_driver("gen2", psam=None)
    assert driver.iWriteCard_HSM_Step1(1, "|B00000000|", "SSSEEF06|09|$")[0] == E.DATA_MISMATCH
    assert driver.iWriteCard_HSM_Step1(1, "|A44010001|", "SSSEEF06|09|$")[0] == 0


def test_write_card_hsm_steps_out_of_order(make_driver):
    driver, _ = make_driver("gen2", psam=None)
    assert driver.iWriteCard_HSM_Step2("00" * 16, "SSSEEF06|王五|$")[0] == E.ILLEGAL_INPUT
    _, step1 = driver.iWriteCard_HSM_Step1(1, "", "SSSEEF06|09|$")
    assert driver.iReadCard_HSM_Step1(1, "", "SSSEEF05|07|$")[0] == 0   # another call abandons the flow …
    assert driver.iWriteCard_HSM_Step2(SoftwareHsm().write_card(step1), "SSSEEF06|王五|$")[0] == E.ILLEGAL_INPUT
    assert item_value(driver, "SSSEEF06", "name") == "陈晓明"        # … and nothing is written
