"""iDoDebit_HSM_Step1/2 with the software HSM (docs/sources.md §6.4, docs/design.md §3.3): a counter without a PSAM
debits the medical purse, the HSM computing MAC1 and checking MAC2; wrong answers, steps out of order, bad input."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.hsm import HsmError, SoftwareHsm
from firmware_sim.image import load_card
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from host import errors as E
from host.standard import ScriptedPins, SSCardDriver
from host.standard.formats import split_fields
from host.terminal import Terminal
from protocols import purse as P
from protocols.atr import historical_bytes
from protocols.crypto import Alg
from protocols.keys import test_issuer_keys
from tests.card.conftest import make_image
from tests.service.conftest import Images, forged_keys

PAY = "2.34|5.00|20240501103000|440100000001|"
DPK, DTK = 0x01, 0x03          # DF04's purchase and TAC key IDs (docs/design.md §3.3)


def debit_driver(tmp_path: Path, profile: str = "gen2", *pins: str, psam: bool = False,
                 balance: int = 10000) -> tuple[SSCardDriver, Path]:
    """A driver on a card of its own with ``balance`` fen in the purse; no PSAM unless asked."""
    path = make_image(tmp_path, profile, purse_balance=balance)
    card = CardOS.from_file(path)
    psam_reader = InProcessReader(PsamOS.from_file(Images(tmp_path).psam(card.image.region)), "test PSAM") if psam \
        else None
    term = Terminal(InProcessReader(card, "test card"), psam_reader)
    return SSCardDriver(term, pin_entry=ScriptedPins(list(pins or ["123456"] * 4)), device_number="SIM0001"), path


def purse_of(path: Path) -> tuple[int, int, list[bytes], int]:
    """Balance, offline counter, log records and the purchase key's tries, from the card's memory."""
    img = load_card(path)
    st = img.dfs["DF04"]
    assert st.purse is not None
    return st.purse.balance, st.purse.offline_counter, list(st.records[0xEF08]), st.keys[DPK].tries_left


@pytest.mark.parametrize("profile", ["gen2", "gen3"])
def test_hsm_debit_without_a_psam(tmp_path: Path, profile: str) -> None:
    driver, path = debit_driver(tmp_path, profile)
    code, step1 = driver.iDoDebit_HSM_Step1(1, "", PAY)
    assert code == 0, step1
    f = split_fields(step1)
    assert len(f) == 13
    alg, address, random, counter, amount, txn_type, terminal, when, version, purse_alg, region, atr, card_id = f
    card = load_card(path)
    assert alg == ("03" if profile == "gen3" else "01") and address == "004201" and len(random) == 8
    assert (counter, amount, txn_type, terminal, when) == ("0000", "000000EA", "06", "440100000001", "20240501103000")
    assert (version, purse_alg) == ("01", "04" if profile == "gen3" else "00")
    assert region == card.region and atr == historical_bytes(card.atr).hex().upper() and card_id.startswith(region)

    hsm = SoftwareHsm(transaction_number=0x1234)
    pkey = hsm.debit_mac1(step1)
    assert pkey.startswith("00001234|20240501103000|") and hsm.transaction_number == 0x1235
    code, out = driver.iDoDebit_HSM_Step2(pkey)
    assert code == 0, out
    fields = split_fields(out)
    assert fields[:7] == ["100.00", "2.34", "97.66", "0000", "440100000001", "00001234", "20240501103000"]
    tac, mac2 = bytes.fromhex(fields[7]), bytes.fromhex(fields[8])
    assert hsm.check_mac2(step1, out)
    assert not hsm.check_mac2(step1, out.replace(fields[8], (bytes([mac2[0] ^ 1]) + mac2[1:]).hex().upper()))

    dtk = test_issuer_keys(card.profile.alg).card_keys(card.region, card.atr)["DF04.DTK"]    # the back office's
    assert tac == P.tac(card.profile.alg, dtk, 234, bytes.fromhex("440100000001"), 0x1234,
                        bytes.fromhex("20240501103000"))
    balance, offline, log, tries = purse_of(path)
    assert (balance, offline, tries) == (10000 - 234, 1, 3)
    record = P.LogRecord.parse(log[0])
    assert (record.offline_counter, record.amount, record.terminal_number, record.timestamp) == (
        0, 234, "440100000001", "20240501103000")
    assert driver.iReadDebitRecord(1) == (0, "0000|2.34|06|440100000001|20240501103000|$")


def test_the_psams_terminal_number_and_the_16_hex_answer(tmp_path: Path) -> None:
    """With a PSAM (one without the purchase key, say) the terminal number is the PSAM's; the HSM's answer may also
    be the terminal transaction number ‖ MAC1 alone."""
    driver, path = debit_driver(tmp_path, psam=True)
    code, step1 = driver.iDoDebit_HSM_Step1(1, "", "1.00||20240501103000|")
    assert code == 0, step1
    assert split_fields(step1)[6] == "440100000009"
    txn, _, mac1 = split_fields(SoftwareHsm().debit_mac1(step1))
    code, out = driver.iDoDebit_HSM_Step2(txn + mac1)
    assert code == 0 and split_fields(out)[2] == "99.00"
    assert purse_of(path)[:2] == (9900, 1)


def test_a_wrong_mac1_is_refused_counted_and_debits_nothing(tmp_path: Path) -> None:
    driver, path = debit_driver(tmp_path, "gen2", *["123456"] * 5)
    for tries_left in (2, 1, 0):
        _, step1 = driver.iDoDebit_HSM_Step1(1, "", PAY)
        txn, when, mac1 = split_fields(SoftwareHsm().debit_mac1(step1))
        wrong = f"{int(mac1, 16) ^ 1:08X}"
        assert driver.iDoDebit_HSM_Step2(f"{txn}|{when}|{wrong}|")[0] == -0x9302
        assert purse_of(path) == (10000, 0, [], tries_left)
    assert driver.iDoDebit_HSM_Step1(1, "", PAY)[0] == -0x6983         # the purchase key is blocked
    assert driver.iDoDebit_HSM_Step2("00000000|20240501103000|00000000|")[0] == E.ILLEGAL_INPUT


def test_an_answer_from_another_hsm_key_set_is_a_wrong_mac1(tmp_path: Path) -> None:
    driver, path = debit_driver(tmp_path)
    _, step1 = driver.iDoDebit_HSM_Step1(1, "", PAY)
    assert driver.iDoDebit_HSM_Step2(SoftwareHsm([forged_keys(Alg.DES3)]).debit_mac1(step1))[0] == -0x9302
    assert purse_of(path)[:3] == (10000, 0, [])


def test_steps_out_of_order_are_minus_23(tmp_path: Path) -> None:
    driver, path = debit_driver(tmp_path)
    good = "00000000|20240501103000|00000000|"
    assert driver.iDoDebit_HSM_Step2(good)[0] == E.ILLEGAL_INPUT                   # no Step 1
    _, step1 = driver.iDoDebit_HSM_Step1(1, "", PAY)
    pkey = SoftwareHsm().debit_mac1(step1)
    assert driver.iReadCardBas_HSM_Step2("00" * 16 + "|")[0] == E.ILLEGAL_INPUT   # another flow's step …
    assert driver.iDoDebit_HSM_Step2(pkey)[0] == E.ILLEGAL_INPUT                  # … abandoned this one
    _, step1 = driver.iDoDebit_HSM_Step1(1, "", PAY)
    pkey = SoftwareHsm().debit_mac1(step1)
    assert driver.iReadDebitRecord(1)[0] == 0                                      # any other call abandons it
    assert driver.iDoDebit_HSM_Step2(pkey)[0] == E.ILLEGAL_INPUT
    _, step1 = driver.iDoDebit_HSM_Step1(1, "", PAY)
    assert driver.iDoDebit_HSM_Step2(SoftwareHsm().debit_mac1(step1))[0] == 0
    assert driver.iDoDebit_HSM_Step2(SoftwareHsm().debit_mac1(step1))[0] == E.ILLEGAL_INPUT   # done: no replay
    assert purse_of(path)[:2] == (10000 - 234, 1)
    _, step1 = driver.iReadCardBas_HSM_Step1(1)
    assert driver.iDoDebit_HSM_Step2(good)[0] == E.ILLEGAL_INPUT                   # after another flow's Step 1


@pytest.mark.parametrize("pay", ["", "1.00|", "x|2|20240501103000|440100000001|", "0|1|20240501103000|",
                                 "1.00||20241301103000|440100000001|", "1.00|||44010000000|",
                                 "1.00|||44010000000A|", "1.00|||440100000001|x|"])
def test_bad_pay_info_is_minus_23(tmp_path: Path, pay: str) -> None:
    driver, path = debit_driver(tmp_path)
    assert driver.iDoDebit_HSM_Step1(1, "", pay)[0] == E.ILLEGAL_INPUT
    assert purse_of(path)[:3] == (10000, 0, [])


def test_no_terminal_number_without_a_psam_is_minus_23(tmp_path: Path) -> None:
    driver, _ = debit_driver(tmp_path)
    code, out = driver.iDoDebit_HSM_Step1(1, "", "1.00||20240501103000|")
    assert code == E.ILLEGAL_INPUT and "terminal number" in out


def test_step1_checks_the_card_the_pin_and_the_balance(tmp_path: Path) -> None:
    driver, path = debit_driver(tmp_path, "gen2", "000000", "123456", balance=100)
    assert driver.iDoDebit_HSM_Step1(1, "|X00000000|", PAY)[0] == E.DATA_MISMATCH
    code, out = driver.iDoDebit_HSM_Step1(1, "", PAY)
    assert (code, out.split("|")[0]) == (-51, "2")
    assert driver.iDoDebit_HSM_Step1(1, "", PAY)[0] == -0x9401                    # 2.34 yuan > 1.00
    assert driver.iDoDebit_HSM_Step1(7, "", PAY)[0] == E.BAD_PARAMETER
    assert purse_of(path)[:3] == (100, 0, [])


@pytest.mark.parametrize("pkey", ["zz000000|20240501103000|00000000|", "000000|20240501103000|00000000|",
                                  "00000000|20240501103000|000000|", "00000000|20240501103001|00000000|",
                                  "00000000|00000000|", "0000000000000000FF", "", "a|b|c|d|"])
def test_bad_pkey_is_minus_23_and_debits_nothing(tmp_path: Path, pkey: str) -> None:
    driver, path = debit_driver(tmp_path)
    assert driver.iDoDebit_HSM_Step1(1, "", PAY)[0] == 0
    assert driver.iDoDebit_HSM_Step2(pkey)[0] == E.ILLEGAL_INPUT
    assert purse_of(path) == (10000, 0, [], 3)                                     # nothing reached the card


def test_the_hsm_refuses_malformed_requests() -> None:
    hsm = SoftwareHsm()
    good = ["01", "004201", "11223344", "0000", "00000064", "06", "440100000001", "20240501103000", "01", "00",
            "440100", "00814E43238697440100123456", "440100D15600000500123456720F8EC6"]
    assert len(split_fields(hsm.debit_mac1("|".join(good) + "|"))) == 3
    for n, bad in [(1, "004C0A"), (2, "1122"), (7, "20241301103000"), (8, "02"), (9, "04"), (0, "07")]:
        fields = list(good)
        fields[n] = bad
        with pytest.raises(HsmError):
            hsm.debit_mac1("|".join(fields) + "|")
    with pytest.raises(HsmError):
        hsm.debit_mac1("|".join(good[:12]) + "|")
