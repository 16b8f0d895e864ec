"""The standard interface over PC/SC: pyscard → private pcscd → vpcd → emulated card and PSAM.

The same functions and error codes as over ``sim`` (tests/service/test_standard.py), on the PC/SC path.
Lives here to share this folder's session-wide pcscd fixtures.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.issuance.personalise import new_card, new_psam
from firmware_sim.psam import PsamOS
from firmware_sim.hsm import SoftwareHsm
from host.standard import ScriptedPins, SSCardDriver
from host.standard.formats import split_fields
from host.terminal import Terminal
from protocols.crypto import Alg
from tests.service.conftest import PEOPLE, REGION, NotAnSsCard, forged_keys

pytestmark = pytest.mark.pcsc


def devices(profile: str, issuer=None) -> tuple[CardOS, PsamOS]:
    region = REGION[profile]
    card = CardOS(new_card(PEOPLE[region], profile=profile, region=region, serial=11, issuer=issuer))
    return card, PsamOS(new_psam(region, region + "000009"))


@pytest.fixture
def pcsc_driver(serve, pcscd_vpcd) -> Iterator[Callable[..., tuple[SSCardDriver, ScriptedPins]]]:
    made: list[SSCardDriver] = []

    def make(profile: str = "gen2", *pins: str, issuer=None, card=None) -> tuple[SSCardDriver, ScriptedPins]:
        card_dev, psam_dev = devices(profile, issuer)
        serve(card if card is not None else card_dev, 0)
        serve(psam_dev, 1)
        pad = ScriptedPins(list(pins))
        driver = SSCardDriver(Terminal(pcscd_vpcd.reader(0), pcscd_vpcd.reader(1)), pin_entry=pad)
        made.append(driver)
        return driver, pad

    yield make
    for driver in made:
        driver.close()


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_read_functions_over_pcsc(pcsc_driver, profile):
    driver, _ = pcsc_driver(profile)
    code, out = driver.iReadCardBas(3)
    assert code == 0 and split_fields(out)[4] == PEOPLE[REGION[profile]]["name"]
    assert split_fields(out)[9] == REGION[profile] + "000009"
    code, out = driver.iReadCard(1, 2, "", "SSSEEF05|07|$SSSEEF06|08|$")
    assert code == 0 and split_fields(out.split("$")[1])[1] == PEOPLE[REGION[profile]]["ssn"]
    assert driver.iWriteCard(1, "", "SSSEEF06|09|$", "SSSEEF06|王五|$") == (0, "")
    assert driver.iReadCard(1, 2, "", "SSSEEF06|09|$")[1] == "SSSEEF06|王五|$"
    code, step1 = driver.iReadCardBas_HSM_Step1(1)
    assert code == 0
    assert driver.iReadCardBas_HSM_Step2(SoftwareHsm().read_basic_info(step1))[0] == 0
    assert driver.iReadPhoto(1)[0] == 0


def test_pin_functions_over_pcsc(pcsc_driver):
    driver, _ = pcsc_driver("gen3", "123456", "000000", "000000", "000000", "111111", "111111", "111111",
                            "111111", "222222", "222222", "333333", "333333", "333333")
    assert driver.iVerifyPIN(1) == (0, "")
    assert driver.iVerifyPIN(1) == (-51, "2|wrong PIN, 2 tries left|")
    assert [driver.iVerifyPIN(1)[0] for _ in range(2)] == [-51, -52]
    assert driver.iReloadPIN(1, "") == (0, "")                         # 111111
    assert driver.iVerifyPIN(1) == (0, "")
    assert driver.iChangePIN(1) == (0, "")                             # 111111 -> 222222
    assert driver.iUnblockPIN(1, "") == (0, "")                        # key 06 + MAC: no PIN entered
    code, step1 = driver.iReadCardBas_HSM_Step1(1)
    assert code == 0
    region, atr = split_fields(step1)[:2]
    hsm = SoftwareHsm()
    _, r1 = driver.iReloadPIN_HSM_Step1(1, "")
    _, r2 = driver.iReloadPIN_HSM_Step2(hsm.reload_pin_auth(r1, region, atr))
    assert driver.iReloadPIN_HSM_Step3(hsm.reload_pin_command(r2, region, atr)) == (0, "")
    assert driver.iVerifyPIN(1) == (0, "")                             # 333333


def test_forged_card_over_pcsc_is_minus_21(pcsc_driver):
    driver, _ = pcsc_driver("gen2", issuer=forged_keys(Alg.DES3))
    assert driver.iReadCardBas(1)[0] == -21


def test_wrong_card_over_pcsc_is_minus_1(pcsc_driver):
    driver, _ = pcsc_driver("gen2", card=NotAnSsCard())
    assert driver.iReadCardBas(1)[0] == -1


def test_no_card_over_pcsc(pcscd_vpcd):
    driver = SSCardDriver(Terminal(pcscd_vpcd.reader(0), None), pin_entry=ScriptedPins.of("123456"))
    assert driver.iReadCardBas(1)[0] == -2
    assert driver.iVerifyPIN(1)[0] == -2
