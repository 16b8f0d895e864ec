"""iWriteCardBas and iWriteCardBas_HSM_Step1 as a card-making kiosk's driver declares and calls them (docs/sources.md
§6.1 iWriteCardBas, S7): the two randoms out, the HSM's external authentication in, the basic data written."""
from __future__ import annotations

import pytest

from firmware_sim.hsm import SoftwareHsm
from host import errors as E
from host.standard.formats import split_fields
from protocols.crypto import Alg

from tests.service.conftest import forged_keys, item_value, records, tries
from tests.service.test_write_card_bas_ext import FULL, data


def step0(driver) -> tuple[str, str, str]:
    """iWriteCardBas, and the region and ATR the kiosk gives its HSM: from iReadCardBas, as S7's kiosk has them,
    or, on a terminal without a PSAM, from iReadCardBas_HSM_Step1 (its first two fields)."""
    code, basic = driver.iReadCardBas(1)
    fields = split_fields(basic)
    if code != 0:
        step1 = split_fields(driver.iReadCardBas_HSM_Step1(1)[1])
        fields = [step1[0], "", "", "", "", step1[1]]
    code, out = driver.iWriteCardBas(1)
    assert code == 0
    return out, fields[0], fields[5]


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_the_kiosk_sequence_writes_the_basic_data(make_driver, profile):
    driver, _ = make_driver(profile, psam=None)                 # the HSM path needs no PSAM
    card_id = item_value(driver, "SSSEEF05", "card_id")
    out, region, atr = step0(driver)
    f = split_fields(out)
    assert len(f) == 4 and f[0] == ("03" if profile == "gen3" else "01") and f[3] == "0094"
    assert len(f[1]) == len(f[2]) == 16 and f[1] != f[2]         # S7 takes fields 1 and 2: the two randoms
    pkey = SoftwareHsm().write_basic_info(out, region, atr)
    assert driver.iWriteCardBas_HSM_Step1(pkey, data(card_id=card_id, **FULL)) == (0, "")
    for name, value in FULL.items():
        path = "SSSEEF05" if name in ("init_org", "issue_date", "expiry_date", "card_number") else "SSSEEF06"
        assert item_value(driver, path, name) == value
    assert tries(driver, "SSSE", 0x04) == 3


def test_the_hsm_cryptogram_alone_is_taken_with_the_terminals_random(make_driver):
    """S7 calls the HSM's answer "外部认证MAC": the 8-byte cryptogram C does, D being the random the step gave."""
    driver, _ = make_driver("gen2")
    out, region, atr = step0(driver)
    pkey = SoftwareHsm().write_basic_info(out, region, atr)[:16]
    assert driver.iWriteCardBas_HSM_Step1(pkey, "||" + data(name="欧阳", sex="2")[2:]) == (0, "")
    assert item_value(driver, "SSSEEF06", "name") == "欧阳" and item_value(driver, "SSSEEF06", "sex") == "2"


def test_the_kiosks_own_write_info_with_empty_card_id_and_org(make_driver):
    """S7's MakeCardInfo: 卡识别码 and 初始化机构编码 empty, 姓名拓展 skipped (empty: cleared with the name)."""
    driver, _ = make_driver("gen2")
    out, region, atr = step0(driver)
    info = "||20250102|20350102|C44010003|440106197001010022|司马||1|02|19700101|"
    assert driver.iWriteCardBas_HSM_Step1(SoftwareHsm().write_basic_info(out, region, atr), info) == (0, "")
    fields = split_fields(driver.iReadCardBas(1)[1])
    assert fields[1:3] == ["440106197001010022", "C44010003"] and fields[4] == "司马"


def test_a_wrong_hsm_answer_is_refused_counted_and_writes_nothing(make_driver):
    driver, _ = make_driver("gen2")
    before = records(driver)
    out, region, atr = step0(driver)
    pkey = SoftwareHsm([forged_keys(Alg.DES3)]).write_basic_info(out, region, atr)
    assert driver.iWriteCardBas_HSM_Step1(pkey, data(name="王五"))[0] == -0x63C2
    assert records(driver) == before and tries(driver, "SSSE", 0x04) == 2
    # the flow is over: the same answer again is out of order
    assert driver.iWriteCardBas_HSM_Step1(pkey, data(name="王五"))[0] == E.ILLEGAL_INPUT
    assert records(driver) == before and tries(driver, "SSSE", 0x04) == 2


def test_an_answer_for_another_challenge_is_refused(make_driver):
    driver, _ = make_driver("gen2")
    first, region, atr = step0(driver)
    old = SoftwareHsm().write_basic_info(first, region, atr)
    assert driver.iWriteCardBas(1)[0] == 0                           # a new challenge
    assert driver.iWriteCardBas_HSM_Step1(old, data(name="王五"))[0] == -0x63C2
    assert item_value(driver, "SSSEEF06", "name") == "陈晓明"


@pytest.mark.parametrize("pkey, info, code", [
    ("zz" * 16, data(name="王五"), E.ILLEGAL_INPUT),               # pKey not hex
    ("00" * 12, data(name="王五"), E.ILLEGAL_INPUT),               # neither 8 nor 16 bytes
    (None, data(name="王五")[:-1], E.ILLEGAL_INPUT),                # a field short
    (None, data(name="名" * 16), E.DATA_LENGTH),
    (None, data(birth_date="19900230"), E.ILLEGAL_INPUT),            # not a real date
    (None, data(name="王$五"), E.ILLEGAL_CHARACTERS),
    (None, data(card_id="0" * 32, name="王五"), E.DATA_MISMATCH),    # another card's identification code
    (None, data(card_id="4401", name="王五"), E.CARD_ID_FORMAT),
])
def test_bad_input_is_refused_before_the_card_sees_anything(make_driver, pkey, info, code):
    driver, _ = make_driver("gen2")
    before = records(driver)
    out, region, atr = step0(driver)
    answer = pkey if pkey is not None else SoftwareHsm().write_basic_info(out, region, atr)
    assert driver.iWriteCardBas_HSM_Step1(answer, info)[0] == code
    assert records(driver) == before and tries(driver, "SSSE", 0x04) == 3


def test_steps_out_of_order_are_minus_23(make_driver):
    driver, _ = make_driver("gen2")
    before = records(driver)
    assert driver.iWriteCardBas_HSM_Step1("00" * 16, data(name="王五"))[0] == E.ILLEGAL_INPUT   # no iWriteCardBas
    out, region, atr = step0(driver)
    pkey = SoftwareHsm().write_basic_info(out, region, atr)
    assert driver.iReadCardBas(1)[0] == 0                          # another call abandons the flow
    assert driver.iWriteCardBas_HSM_Step1(pkey, data(name="王五"))[0] == E.ILLEGAL_INPUT
    out, region, atr = step0(driver)
    assert driver.iReadCardBas_HSM_Step2("00" * 16 + "|")[0] == E.ILLEGAL_INPUT   # another flow's step
    assert driver.iWriteCardBas_HSM_Step1(SoftwareHsm().write_basic_info(out, region, atr),
                                          data(name="王五"))[0] == E.ILLEGAL_INPUT
    out, region, atr = step0(driver)
    pkey = SoftwareHsm().write_basic_info(out, region, atr)
    assert driver.iWriteCardBas_HSM_Step1(pkey, data(name="王五")) == (0, "")
    assert driver.iWriteCardBas_HSM_Step1(pkey, data(name="李四"))[0] == E.ILLEGAL_INPUT    # the flow is done
    assert item_value(driver, "SSSEEF06", "name") == "王五" and records(driver) != before


def test_bad_itype(make_driver):
    driver, _ = make_driver("gen2")
    assert driver.iWriteCardBas(5)[0] == E.BAD_PARAMETER


def test_the_software_hsm_refuses_malformed_requests():
    from firmware_sim.hsm import HsmError
    with pytest.raises(HsmError):
        SoftwareHsm().write_basic_info("01|00|", "440100", "00" * 13)
    with pytest.raises(HsmError):
        SoftwareHsm().write_basic_info("01|" + "00" * 8 + "|" + "00" * 8 + "|9999|", "440100", "00" * 13)
