"""The HSM variants with the local software key service (docs/sources.md §5.4, docs/design.md §3)."""
from __future__ import annotations

import pytest

from host import errors as E
from firmware_sim.hsm import HsmError, SoftwareHsm
from host.standard.formats import split_fields
from protocols.atr import historical_bytes
from protocols.crypto import Alg

from tests.service.conftest import PEOPLE, forged_keys


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
@pytest.mark.parametrize("with_psam", [True, False])
def test_read_card_bas_hsm_gives_the_psam_path_output(make_driver, profile, with_psam):
    driver, _ = make_driver(profile, psam=with_psam)
    code, step1 = driver.iReadCardBas_HSM_Step1(3)
    assert code == 0
    f = split_fields(step1)
    assert len(f) == 9
    region, atr, alg, card_id, ia_factor, ia_data, ea_factor, ea_data, terminal = f
    assert alg == ("03" if profile == "gen3" else "01")
    assert atr == historical_bytes(driver.contact.card.atr).hex().upper() and card_id.startswith(region)
    assert len(ia_factor) == len(ia_data) == 16
    assert (len(ea_data), len(ea_factor)) == ((16, 16) if profile == "gen3" else (0, 0))   # EA on 3.0 only
    assert terminal == (region + "000009" if with_psam else "")
    pkey = SoftwareHsm().read_basic_info(step1)
    code, out = driver.iReadCardBas_HSM_Step2(pkey)
    assert code == 0
    if with_psam:
        assert out == driver.iReadCardBas(1)[1]
    else:
        fields = split_fields(out)
        assert fields[0] == f[0] and fields[3] == card_id and fields[4] == PEOPLE[region]["name"]
        assert fields[9] == ""                                   # no PSAM, no terminal number


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_a_recorded_hsm_answer_does_not_fit_a_new_read(make_driver, profile):
    """The terminal chooses the internal-authentication randoms, so a card (or a man in the middle) that
    replays a recorded exchange is refused: every Step 1 asks something new."""
    driver, _ = make_driver(profile)
    _, first = driver.iReadCardBas_HSM_Step1(1)
    recorded = SoftwareHsm().read_basic_info(first)
    driver.iReadCardBas_HSM_Step2(recorded)
    _, second = driver.iReadCardBas_HSM_Step1(1)
    assert split_fields(first)[4:6] != split_fields(second)[4:6]
    assert driver.iReadCardBas_HSM_Step2(recorded)[0] == E.HSM_MISMATCH


def test_hsm_with_other_keys_disagrees_minus_25(make_driver):
    driver, _ = make_driver("gen3")
    _, step1 = driver.iReadCardBas_HSM_Step1(1)
    pkey = SoftwareHsm([forged_keys(Alg.SM4)]).read_basic_info(step1)
    assert driver.iReadCardBas_HSM_Step2(pkey)[0] == E.HSM_MISMATCH


def test_forged_card_disagrees_with_the_hsm(make_driver):
    driver, _ = make_driver("gen2", issuer=forged_keys(Alg.DES3), psam=None)
    _, step1 = driver.iReadCardBas_HSM_Step1(1)
    assert driver.iReadCardBas_HSM_Step2(SoftwareHsm().read_basic_info(step1))[0] == -25


def test_steps_out_of_order_or_abandoned_are_minus_23(make_driver):
    driver, _ = make_driver("gen3")
    assert driver.iReadCardBas_HSM_Step2("00" * 8 + "|" + "00" * 16 + "|")[0] == E.ILLEGAL_INPUT
    _, step1 = driver.iReadCardBas_HSM_Step1(1)
    pkey = SoftwareHsm().read_basic_info(step1)
    assert driver.iReadCardBas(1)[0] == 0                      # another call abandons the HSM flow
    assert driver.iReadCardBas_HSM_Step2(pkey)[0] == -23
    assert driver.iReloadPIN_HSM_Step3("00")[0] == -23


def test_malformed_pkey_is_minus_23_and_ends_the_flow(make_driver):
    driver, _ = make_driver("gen3")
    driver.iReadCardBas_HSM_Step1(1)
    assert driver.iReadCardBas_HSM_Step2("nothex|")[0] == -23
    assert driver.iReadCardBas_HSM_Step2("00" * 8 + "|")[0] == -23


def test_wrong_ea_data_is_an_authentication_failure(make_driver):
    driver, _ = make_driver("gen3")
    _, step1 = driver.iReadCardBas_HSM_Step1(1)
    ia = split_fields(SoftwareHsm().read_basic_info(step1))[0]
    assert driver.iReadCardBas_HSM_Step2(f"{ia}|{'11' * 16}|")[0] == -0x63C2


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_reload_pin_hsm(make_driver, profile):
    driver, pad = make_driver(profile, "000000", "000000", "000000", "246810", "246810", "246810", psam=None)
    assert [driver.iVerifyPIN(1)[0] for _ in range(3)] == [-51, -51, -52]
    _, step1 = driver.iReadCardBas_HSM_Step1(1)     # where the counter learns region and ATR
    region, atr, _, card_id = split_fields(step1)[:4]
    hsm = SoftwareHsm()
    code, r1 = driver.iReloadPIN_HSM_Step1(1, f"{card_id}|")
    assert code == 0
    alg, address, ea_factor, ea_data = split_fields(r1)
    assert address == "0090" and len(ea_factor) == len(ea_data) == 16     # key 06 on every generation
    code, r2 = driver.iReloadPIN_HSM_Step2(hsm.reload_pin_auth(r1, region, atr))
    assert code == 0
    f = split_fields(r2)
    assert f[1] == "0173" and f[3] == ("8424000114" if profile == "gen3" else "842400010C") and f[4] == "246810"
    command = hsm.reload_pin_command(r2, region, atr)
    assert driver.iReloadPIN_HSM_Step3(command) == (0, "")
    assert driver.iVerifyPIN(1) == (0, "")


def test_reload_pin_hsm_step3_accepts_data_without_header(make_driver):
    driver, _ = make_driver("gen3", "135790", "135790", "135790", psam=None)
    _, step1 = driver.iReadCardBas_HSM_Step1(1)
    region, atr = split_fields(step1)[:2]
    hsm = SoftwareHsm()
    _, r1 = driver.iReloadPIN_HSM_Step1(1, "")
    _, r2 = driver.iReloadPIN_HSM_Step2(hsm.reload_pin_auth(r1, region, atr))
    assert driver.iReloadPIN_HSM_Step3(hsm.reload_pin_command(r2, region, atr)[10:] + "|") == (0, "")
    assert driver.iVerifyPIN(1) == (0, "")


def test_reload_pin_hsm_wrong_card_info_and_bad_mac(make_driver):
    driver, _ = make_driver("gen2", "135790", "135790")
    assert driver.iReloadPIN_HSM_Step1(1, "0" * 32 + "|")[0] == -22
    _, step1 = driver.iReadCardBas_HSM_Step1(1)
    region, atr = split_fields(step1)[:2]
    _, r1 = driver.iReloadPIN_HSM_Step1(1, "")
    _, r2 = driver.iReloadPIN_HSM_Step2(SoftwareHsm().reload_pin_auth(r1, region, atr))
    bad = SoftwareHsm([forged_keys(Alg.DES3)]).reload_pin_command(r2, region, atr)
    assert driver.iReloadPIN_HSM_Step3(bad)[0] == -0x6988      # MAC incorrect


def test_hsm_refuses_malformed_requests():
    hsm = SoftwareHsm()
    with pytest.raises(HsmError):
        hsm.read_basic_info("a|b|")
    with pytest.raises(HsmError):
        hsm.reload_pin_auth("07|0090|0011223344556677|0011223344556677|", "440100", "00" * 8)
    with pytest.raises(HsmError):
        hsm.reload_pin_command("01|9999|00|842400010C|123456|", "440100", "00" * 8)


# --- iUnblockPIN_HSM ---------------------------------------------------------------------------------------------
def _blocked(make_driver, profile, *pins):
    """A driver whose card's PIN is blocked (three wrong tries), and the region and ATR the HSM needs."""
    driver, pad = make_driver(profile, "000000", "000000", "000000", *pins, psam=None)
    assert [driver.iVerifyPIN(1)[0] for _ in range(3)] == [-51, -51, -52]
    _, step1 = driver.iReadCardBas_HSM_Step1(1)
    region, atr = split_fields(step1)[:2]
    return driver, region, atr


def _card(driver):
    return driver.contact.card_reader.device.image


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_unblock_pin_hsm(make_driver, profile):
    driver, region, atr = _blocked(make_driver, profile, "123456")
    hsm = SoftwareHsm()
    code, u1 = driver.iUnblockPIN_HSM_Step1(1, "")
    assert code == 0
    alg, address, ea_factor, ea_data = split_fields(u1)
    assert alg == ("03" if profile == "gen3" else "01") and address == "0090" and len(ea_factor) == len(ea_data) == 16
    code, u2 = driver.iUnblockPIN_HSM_Step2(hsm.unblock_pin_auth(u1, region, atr))
    assert code == 0
    alg2, address2, challenge, header = split_fields(u2)
    assert (alg2, address2, header, len(challenge)) == (alg, "0173", "8424000004", 16)    # no PIN travels
    command = hsm.unblock_pin_command(u2, region, atr)
    assert len(command) == 18 and command.startswith("8424000004")
    assert driver.iUnblockPIN_HSM_Step3(command) == (0, "")
    assert _card(driver).pin_tries_left == 3 and _card(driver).pin == "123456"          # reset, not changed
    assert driver.iVerifyPIN(1) == (0, "")


def test_unblock_pin_hsm_step3_takes_the_mac_alone(make_driver):
    driver, region, atr = _blocked(make_driver, "gen2", "123456")
    hsm = SoftwareHsm()
    _, u1 = driver.iUnblockPIN_HSM_Step1(1, "")
    _, u2 = driver.iUnblockPIN_HSM_Step2(hsm.unblock_pin_auth(u1, region, atr))
    assert driver.iUnblockPIN_HSM_Step3(hsm.unblock_pin_command(u2, region, atr)[10:] + "|") == (0, "")
    assert driver.iVerifyPIN(1) == (0, "")


def test_unblock_pin_hsm_wrong_mac_is_refused(make_driver):
    driver, region, atr = _blocked(make_driver, "gen3")
    _, u1 = driver.iUnblockPIN_HSM_Step1(1, "")
    _, u2 = driver.iUnblockPIN_HSM_Step2(SoftwareHsm().unblock_pin_auth(u1, region, atr))
    bad = SoftwareHsm([forged_keys(Alg.SM4)]).unblock_pin_command(u2, region, atr)
    assert driver.iUnblockPIN_HSM_Step3(bad)[0] == -0x6988       # MAC incorrect
    assert _card(driver).pin_tries_left == 0                      # still blocked
    assert driver.iUnblockPIN_HSM_Step3(bad)[0] == E.ILLEGAL_INPUT   # the failed step ended the flow


def test_unblock_pin_hsm_wrong_authentication_is_counted(make_driver):
    driver, region, atr = _blocked(make_driver, "gen2")
    _, u1 = driver.iUnblockPIN_HSM_Step1(1, "")
    forged = SoftwareHsm([forged_keys(Alg.DES3)]).unblock_pin_auth(u1, region, atr)
    assert driver.iUnblockPIN_HSM_Step2(forged)[0] == -0x63C2
    card = _card(driver)
    assert card.dfs["SSSE"].keys[0x06].tries_left == 2 and card.pin_tries_left == 0


def test_unblock_pin_hsm_steps_out_of_order(make_driver):
    driver, region, atr = _blocked(make_driver, "gen2")
    hsm = SoftwareHsm()
    assert driver.iUnblockPIN_HSM_Step2("00" * 16)[0] == E.ILLEGAL_INPUT
    _, u1 = driver.iUnblockPIN_HSM_Step1(1, "")
    assert driver.iUnblockPIN_HSM_Step3("00" * 4)[0] == E.ILLEGAL_INPUT           # Step 3 before Step 2
    _, u1 = driver.iUnblockPIN_HSM_Step1(1, "")
    assert driver.iReloadPIN_HSM_Step2(hsm.unblock_pin_auth(u1, region, atr))[0] == E.ILLEGAL_INPUT  # another flow
    assert driver.iUnblockPIN_HSM_Step2(hsm.unblock_pin_auth(u1, region, atr))[0] == E.ILLEGAL_INPUT
    assert _card(driver).dfs["SSSE"].keys[0x06].tries_left == 3 and _card(driver).pin_tries_left == 0


@pytest.mark.parametrize("step, pkey", [(2, "zz" * 16), (2, "00" * 15), (3, "zz" * 4), (3, "00" * 5),
                                        (3, "8424000104" + "00" * 4)])
def test_unblock_pin_hsm_malformed_pkey_is_minus_23(make_driver, step, pkey):
    driver, region, atr = _blocked(make_driver, "gen2")
    hsm = SoftwareHsm()
    _, u1 = driver.iUnblockPIN_HSM_Step1(1, "")
    if step == 3:
        driver.iUnblockPIN_HSM_Step2(hsm.unblock_pin_auth(u1, region, atr))
        assert driver.iUnblockPIN_HSM_Step3(pkey)[0] == E.ILLEGAL_INPUT
    else:
        assert driver.iUnblockPIN_HSM_Step2(pkey)[0] == E.ILLEGAL_INPUT
        assert _card(driver).dfs["SSSE"].keys[0x06].tries_left == 3
    assert _card(driver).pin_tries_left == 0


def test_unblock_pin_hsm_checks_the_card_info(make_driver):
    driver, _, _ = _blocked(make_driver, "gen2")
    assert driver.iUnblockPIN_HSM_Step1(1, "0" * 32 + "|")[0] == E.DATA_MISMATCH
    assert driver.iUnblockPIN_HSM_Step1(1, "0" * 31 + "|")[0] == E.CARD_ID_FORMAT
    assert driver.iUnblockPIN_HSM_Step1(9, "")[0] == E.BAD_PARAMETER


def test_hsm_refuses_malformed_unblock_requests():
    hsm = SoftwareHsm()
    with pytest.raises(HsmError):
        hsm.unblock_pin_command("01|0173|0011223344556677|842400010C|", "440100", "00" * 8)
    with pytest.raises(HsmError):
        hsm.unblock_pin_auth("01|9999|0011223344556677|0011223344556677|", "440100", "00" * 8)
    with pytest.raises(HsmError):
        hsm.read_card("a|b|")
    with pytest.raises(HsmError):
        hsm.write_card("440100|00|01|X|FFFFFF|0011223344556677|0011223344556677|")
