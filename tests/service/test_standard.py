"""The standard interface over the emulator: outputs, formats and every error code (docs/sources.md §6)."""
from __future__ import annotations

import base64

import pytest

from firmware_sim.demo import DEMO_DIR
from hardware.inprocess import InProcessReader
from host import errors as E
from host.standard import SSCardDriver, ScriptedPins
from host.standard.formats import split_fields
from host.terminal import Terminal
from protocols.crypto import Alg

from tests.service.conftest import NotAnSsCard, PHOTO, forged_keys

EF_ALL = "SSSEEF05|05|06|07|$SSSEEF06|08|09|4E|0A|0B|0D|$"


# --- iReadCardBas -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile, expect", [
    ("gen2", ["440100", "440106198503127719", "A44010001", None, "陈晓明", None, "2.00", None, None,
              "440100000009", "SIM0001"]),
    ("gen3", ["440300", "44030419920721452X", "B44030002", None, "林婉婷", None, "3.00", None, None,
              "440300000009", "SIM0001"]),
])
def test_read_card_bas_fields_in_order(make_driver, profile, expect):
    driver, _ = make_driver(profile)
    code, out = driver.iReadCardBas(3)
    assert code == 0
    assert out.endswith("|") and out.count("|") == 11
    fields = split_fields(out)
    for got, want in zip(fields, expect):
        if want is not None:
            assert got == want
    assert len(fields[3]) == 32 and fields[3].startswith(fields[0] + "D156000005")
    assert fields[5] == driver.contact.card.atr[4:].hex().upper()   # historical bytes only
    assert fields[7].isdigit() and fields[8].isdigit() and len(fields[7]) == 8


def test_no_card_is_minus_2_for_every_function(images):
    driver = SSCardDriver(Terminal(InProcessReader(None), None), pin_entry=ScriptedPins.of("123456"))
    calls = [lambda: driver.iReadCardBas(1), lambda: driver.iReadCard(3, 2, "", EF_ALL),
             lambda: driver.iWriteCard(1, "", "SSSEEF06|09|$", "SSSEEF06|王五|$"), lambda: driver.iVerifyPIN(1),
             lambda: driver.iChangePIN(1), lambda: driver.iReloadPIN(1, ""), lambda: driver.iUnblockPIN(1, ""),
             lambda: driver.iReadCardBas_HSM_Step1(1), lambda: driver.iReloadPIN_HSM_Step1(1, ""),
             lambda: driver.iReadPhoto(1)]
    for call in calls:
        assert call()[0] == E.NO_CARD


def test_card_removed_between_calls_is_minus_2(make_driver):
    driver, _ = make_driver("gen2")
    assert driver.iReadCardBas(1)[0] == 0
    driver.contact.card_reader.remove()
    assert driver.iReadCardBas(1)[0] == -2


def test_wrong_card_is_minus_1(images):
    term = Terminal(InProcessReader(NotAnSsCard()), None)
    driver = SSCardDriver(term, pin_entry=ScriptedPins.of("123456"))
    assert driver.iReadCardBas(1)[0] == E.WRONG_CARD_TYPE
    assert driver.iVerifyPIN(1)[0] == -1
    assert driver.iReadCard(1, 2, "", EF_ALL)[0] == -1


def test_no_psam_is_minus_2201(make_driver):
    driver, pad = make_driver("gen2", "111111", "111111", "123456", psam=None)
    assert driver.iReadCardBas(1)[0] == -2201
    assert driver.iReloadPIN(1, "")[0] == -2201
    assert driver.iUnblockPIN(1, "")[0] == -2201
    assert driver.iReadPhoto(1)[0] == -2201
    assert pad.prompts == []                  # the holder is not asked for a PIN the terminal cannot use


def test_psam_without_sm4_is_minus_2202_and_without_rk_minus_2203(images):
    card = images.card("gen3")
    des_only = images.psam("440300", algs=(Alg.DES3,))
    assert SSCardDriver(images.terminal(card, des_only)).iReadCardBas(1)[0] == E.PSAM_NO_ALG
    no_rk = images.psam("440300", drop=("RK",))
    assert SSCardDriver(images.terminal(card, no_rk)).iReadCardBas(1)[0] == E.PSAM_NO_RK


def test_card_that_fails_internal_authentication_is_minus_21(make_driver):
    for profile, alg in (("gen2", Alg.DES3), ("gen3", Alg.SM4)):
        driver, _ = make_driver(profile, issuer=forged_keys(alg))
        code, out = driver.iReadCardBas(3)
        assert code == E.INTERNAL_AUTH_FAILED and "internal authentication" in out


def test_failed_external_authentication_is_the_negative_sw(make_driver):
    # the forged gen3 card refuses the PSAM's cryptogram for the reload key: 63C2 -> -0x63C2
    driver, _ = make_driver("gen3", "111111", "111111", issuer=forged_keys(Alg.SM4))
    assert driver.iReloadPIN(1, "")[0] == -0x63C2 == -25538


@pytest.mark.parametrize("itype, code", [(0, -14), (5, -14), (2, -13)])
def test_itype_values_without_contactless(make_driver, itype, code):
    driver, _ = make_driver("gen2")
    assert driver.iReadCardBas(itype)[0] == code
    assert driver.iReadCardBas(3)[0] == 0 and driver.iReadCardBas(4)[0] == 0   # auto: the contact slot


def test_itype_with_a_contactless_interface(images):
    contact = images.terminal(images.card("gen2"))
    contactless = images.terminal(images.card("gen3"))
    driver = SSCardDriver(contact, contactless=contactless)
    region = lambda t: split_fields(driver.iReadCardBas(t)[1])[0]  # noqa: E731
    assert (region(1), region(2), region(3), region(4)) == ("440100", "440300", "440100", "440300")
    contact.card_reader.remove()
    assert region(3) == "440300"          # auto, contact first: falls back to the contactless card
    assert driver.iReadCardBas(1)[0] == -2
    contactless.card_reader.remove()
    assert driver.iReadCardBas(4)[0] == -2


# --- iReadCard ------------------------------------------------------------------------------------------------
def test_read_card_mirrors_pfileaddr(make_driver):
    driver, _ = make_driver("gen3")
    code, out = driver.iReadCard(3, 2, "", EF_ALL)
    assert code == 0
    assert out.startswith("SSSEEF05|") and out.endswith("|$")
    ef05, ef06 = out[:-1].split("$")
    assert split_fields(ef05)[1:] == split_fields(driver.iReadCard(3, 2, "", "MFEF05|05|06|07|$")[1][:-1])[1:]
    assert split_fields(ef05)[3] == "B44030002"
    assert split_fields(ef06)[1:3] == ["44030419920721452X", "林婉婷"]


def test_read_card_all_items_other_dfs_and_photo(make_driver):
    driver, _ = make_driver("gen2")
    code, out = driver.iReadCard(1, 2, "", "SSSEEF05$DF01EF05|20|$SSSEEF08|01|$")
    assert code == 0
    seg05, seg_df01, seg_photo = out[:-1].split("$")
    assert len(split_fields(seg05)) == 8            # name + all 7 items
    assert split_fields(seg_df01)[0] == "DF01EF05"
    assert bytes.fromhex(split_fields(seg_photo)[1]) == PHOTO


def test_read_card_pin_auth_type(make_driver):
    driver, pad = make_driver("gen2", "123456", "000000")
    assert driver.iReadCard(1, 1, "", "SSSEEF05|07|$") == (0, "SSSEEF05|A44010001|$")
    code, out = driver.iReadCard(1, 1, "", "SSSEEF05|07|$")
    assert (code, split_fields(out)[0]) == (-51, "2")
    assert driver.iReadCard(1, 3, "", "SSSEEF05|07|$")[0] == -14


def test_read_card_pin_protected_file_asks_the_pin(make_driver):
    driver, pad = make_driver("gen2", "123456")
    code, out = driver.iReadCard(1, 2, "", "DF04EF06|90|92|93|$")     # read: PIN and key 0A (profile)
    assert code == 0 and pad.prompts == ["current"]


def test_read_card_card_info_checks(make_driver):
    driver, _ = make_driver("gen2")
    card_id = split_fields(driver.iReadCardBas(1)[1])[3]
    assert driver.iReadCard(1, 2, f"{card_id}|A44010001|", "SSSEEF05|07|$")[0] == 0
    assert driver.iReadCard(1, 2, f"{card_id}|", "SSSEEF05|07|$")[0] == 0
    assert driver.iReadCard(1, 2, f"{card_id}|A44010009|", "SSSEEF05|07|$")[0] == E.DATA_MISMATCH
    assert driver.iReadCard(1, 2, "0" * 32 + "|", "SSSEEF05|07|$")[0] == -22
    assert driver.iReadCard(1, 2, "XYZ|A44010001|", "SSSEEF05|07|$")[0] == E.CARD_ID_FORMAT


@pytest.mark.parametrize("addr, code", [
    ("SSSEEF05|07|", -23),               # no $
    ("SSSEEF05|07$", -23),               # item without |
    ("XXEF05|07|$", -23),                # not a file name
    ("SSSEEF05|7|$", -23),               # not a 2-digit tag
    ("DF09EF05|20|$", -0x6A82),          # a DF the profile lacks: like the card, file not found
    ("SSSEEF05|44|$", -0x6A83),          # an item the card lacks: record not found
    ("DF04EF08:01$", -0x6A83),           # empty cyclic file
    ("DF02EF15|99:05|$", -0x6A83),       # template 99 fills four records
    ("DF02EF15|99:00|$", -0x6A83),
    ("DF02EF07:01|07|$", -23),           # a cyclic record takes no items
])
def test_read_card_errors(make_driver, addr, code):
    driver, _ = make_driver("gen2")
    assert driver.iReadCard(1, 2, "", addr)[0] == code


# --- iWriteCard -----------------------------------------------------------------------------------------------
def test_write_card_then_read_back(make_driver):
    driver, _ = make_driver("gen3")
    assert driver.iWriteCard(1, "", "SSSEEF06|09|0A|$DF01EF06|28|$", "SSSEEF06|王五|2|$DF01EF06|13912345678|$") == (0, "")
    assert driver.iReadCard(1, 2, "", "SSSEEF06|09|0A|$DF01EF06|28|$")[1] == "SSSEEF06|王五|2|$DF01EF06|13912345678|$"


@pytest.mark.parametrize("data, code", [
    ("SSSEEF06|王五|3|$DF01EF06|1391234567890123|$", -42),       # phone longer than 15 bytes
    ("SSSEEF06|王五|3|$DF01EF06|1391234567\x00|$", -41),
    ("SSSEEF06|王五|$DF01EF06|139|$", -23),                      # one value short
    ("SSSEEF05|王五|3|$DF01EF06|139|$", -23),                    # other file
])
def test_write_card_checks_every_value_before_writing(make_driver, data, code):
    driver, _ = make_driver("gen2")
    assert driver.iWriteCard(1, "", "SSSEEF06|09|0A|$DF01EF06|28|$", data)[0] == code
    assert split_fields(driver.iReadCardBas(1)[1])[4] == "陈晓明"   # nothing was written


@pytest.mark.parametrize("addr, data, code, words", [
    ("SSSEEF06|0D|$", "SSSEEF06|19900230|$", E.ILLEGAL_INPUT, "birth_date (出生日期): not a real calendar date"),
    ("SSSEEF06|08|$", "SSSEEF06|440106198503127715|$", E.ILLEGAL_INPUT, "ssn (社会保障号码): the check character"),
    ("SSSEEF06|0A|$", "SSSEEF06|3|$", E.ILLEGAL_INPUT, "sex (性别): not a code of GB/T 2261.1-2003"),
    ("SSSEEF06|0B|$", "SSSEEF06|57|$", E.ILLEGAL_INPUT, "ethnicity (民族): not a code of GB/T 3304-1991"),
    ("DF01EF0A|37|$", "DF01EF0A|ZZZ|$", E.ILLEGAL_INPUT, "nationality (国籍)"),
    # characters and lengths of every value are checked before what any value means: -42 wins over -23
    ("SSSEEF06|0A|$DF01EF06|28|$", "SSSEEF06|3|$DF01EF06|1391234567890123|$", E.DATA_LENGTH, "phone (联系电话)"),
])
def test_write_card_checks_each_value_against_its_item(make_driver, addr, data, code, words):
    driver, _ = make_driver("gen2")
    got, out = driver.iWriteCard(1, "", addr, data)
    assert got == code and words in out, out
    assert "440106198503127715" not in out
    info = split_fields(driver.iReadCardBas(1)[1])
    assert info[1] == "440106198503127719" and info[4] == "陈晓明"      # nothing was written


@pytest.mark.parametrize("data", [
    "SSSEEF06|陈|110101199001011237|X|$",          # a value with | would add fields to the outputs
    "SSSEEF06|陈$SSSEEF06|X|$",                      # one with $ a file segment
    "SSSEEF06|陈|$$",
])
def test_write_card_refuses_separators_in_values(make_driver, data):
    driver, _ = make_driver("gen2")
    code, out = driver.iWriteCard(1, "", "SSSEEF06|09|$", data)
    assert code == E.ILLEGAL_INPUT and "no value may contain them" in out
    assert "110101" not in out and "陈" not in out                 # the message never quotes the data
    assert split_fields(driver.iReadCardBas(1)[1])[4] == "陈晓明"


def test_separators_are_illegal_characters_for_every_item_format():
    from host.standard.flows import check_value
    from protocols.profile import GEN2
    ef06 = GEN2.ssse.ef("EF06")
    for item, value in ((ef06.item("name"), "陈|X"), (ef06.item("name"), "陈$"), (ef06.item("ssn"), "4401|")):
        with pytest.raises(E.IllegalCharacters, match="values may not contain | or \\$") as err:
            check_value(item, value)
        assert E.error_code(err.value) == E.ILLEGAL_CHARACTERS and value not in str(err.value)


def test_a_card_holding_a_separator_is_not_passed_on(images):
    from firmware_sim.image import atomic_write, dumps
    from firmware_sim.issuance.personalise import new_card
    person = {"name": "陈|110101199001011237|X", "ssn": "440106198503127719", "card_number": "A44010001"}
    path = images.root / "separator.json"
    atomic_write(path, dumps(new_card(person, region="440100").to_json()))
    driver = SSCardDriver(images.terminal(path))
    code, out = driver.iReadCardBas(1)
    assert code == E.ILLEGAL_CHARACTERS and out.count("|") == 1 and "output field 5" in out
    code, out = driver.iReadCard(1, 2, "", "SSSEEF06|09|$")
    assert code == E.ILLEGAL_CHARACTERS and out.count("|") == 1 and "SSSEEF06 value 1" in out


def test_write_card_cn_item_rejects_letters(make_driver):
    driver, _ = make_driver("gen2")
    assert driver.iWriteCard(1, "", "SSSEEF06|0D|$", "SSSEEF06|1990A101|$")[0] == E.ILLEGAL_CHARACTERS


# --- PIN ------------------------------------------------------------------------------------------------------
def test_verify_pin_tries_then_blocked(make_driver):
    driver, pad = make_driver("gen2", "123456", "000000", "000000", "000000", "123456")
    assert driver.iVerifyPIN(1) == (0, "")
    assert driver.iVerifyPIN(1) == (-51, "2|wrong PIN, 2 tries left|")
    code, out = driver.iVerifyPIN(1)
    assert (code, split_fields(out)[0]) == (-51, "1")
    assert driver.iVerifyPIN(1)[0] == E.PIN_BLOCKED
    asked = len(pad.prompts)
    assert driver.iVerifyPIN(3)[0] == -52
    assert len(pad.prompts) == asked            # a blocked PIN is not even asked for


def test_verify_pin_entry_errors(make_driver):
    driver, _ = make_driver("gen2", None, "12345", "12a456")
    assert driver.iVerifyPIN(1)[0] == E.PIN_ENTRY_CANCELLED
    assert driver.iVerifyPIN(1)[0] == E.PIN_LENGTH
    assert driver.iVerifyPIN(1)[0] == E.ILLEGAL_CHARACTERS


def test_change_pin(make_driver):
    driver, pad = make_driver("gen2", "123456", "222222", "222222", "222222", "333333", "333334",
                              "222222", "123456", "123456", "222222")
    assert driver.iChangePIN(1) == (0, "")
    assert pad.prompts == ["current", "new", "confirm"]
    assert driver.iChangePIN(1)[0] == E.PIN_MISMATCH
    assert driver.iChangePIN(1)[0] == E.INITIAL_PIN_REFUSED
    assert driver.iVerifyPIN(1) == (0, "")


def test_change_pin_wrong_old_pin_is_minus_51(make_driver):
    driver, _ = make_driver("gen3", "999999", "222222", "222222")
    code, out = driver.iChangePIN(1)
    assert (code, split_fields(out)[0]) == (-51, "2")


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_reload_pin_after_blocking(make_driver, profile):
    driver, _ = make_driver(profile, "000000", "000000", "000000", "654321", "654321", "654321")
    assert [driver.iVerifyPIN(1)[0] for _ in range(4)] == [-51, -51, -52, -52]
    assert driver.iReloadPIN(1, "") == (0, "")
    assert driver.iVerifyPIN(1) == (0, "")


def test_reload_pin_checks_card_info(make_driver):
    driver, _ = make_driver("gen2", "654321", "654321")
    assert driver.iReloadPIN(1, "A" * 32 + "|")[0] == -22


def test_unblock_pin_resets_the_counter(make_driver):
    driver, pad = make_driver("gen3", "000000", "000000", "123456", "123456")
    driver.iVerifyPIN(1)
    driver.iVerifyPIN(1)
    assert driver.contact.pin_tries_left() == 1
    assert driver.iUnblockPIN(1, "") == (0, "")
    assert driver.contact.pin_tries_left() == 3
    assert driver.iVerifyPIN(1) == (0, "")


# --- vendor extras ---------------------------------------------------------------------------------------------
def test_read_photo_and_reader_info(make_driver):
    driver, _ = make_driver("gen3")
    code, out = driver.iReadPhoto(3)
    assert code == 0 and base64.b64decode(split_fields(out)[0]) == PHOTO
    assert driver.iGetReaderInfo() == (0, "SIM0001|440300000009|")


def test_read_photo_of_a_card_without_one_is_an_empty_field(images):
    driver = SSCardDriver(images.terminal(images.card("gen2", photo=b"")))
    assert driver.iReadPhoto(3) == (0, "|")


def test_spec_string_constructor_reads_demo_card():
    driver = SSCardDriver("sim:shenzhen-gen3")
    code, out = driver.iReadCardBas(3)
    assert code == 0 and split_fields(out)[4] == "林婉婷"
    assert (DEMO_DIR / "shenzhen-gen3.json").is_file()


def test_pin_entry_timeout_is_minus_32(make_driver):
    driver, _ = make_driver("gen2")

    def slow_pad(prompt):
        raise E.PinEntryTimeout("nobody typed")
    driver.pin_entry = slow_pad
    assert driver.iVerifyPIN(1) == (-32, "nobody typed|")
