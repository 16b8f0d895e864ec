"""Every file of DF01–DF03 and DF05–DF07 (docs/sources.md §2.3) through the standard interface on the emulator:
written with iWriteCard and read back with iReadCard under its access condition (keys through the PSAM, the PIN
from the holder); B-TLV template records addressed ``tag:NN``, their sub-items' values joined with ``,``; cyclic
records; and what the interface answers without the key or PIN a file needs, or for a malformed record."""
from __future__ import annotations

import pytest

from host import errors as E
from host.standard import SSCardDriver
from protocols import item_checks as R
from protocols.crypto import Alg
from protocols.profile import GEN2, AN, BinaryFile, Cond, EF, Item, RecordFile

from tests.service.conftest import card_os, forged_keys, records, tries

NEW_DFS = ("DF01", "DF02", "DF03", "DF05", "DF06", "DF07")
FILES = [(df.name, ef) for df in GEN2.dfs if df.name in NEW_DFS for ef in df.files]
IDS = [f"{df}{ef.name}" for df, ef in FILES]
PIN = "123456"


def sample(item: Item, n: int = 1) -> str:
    """A value ``item`` takes (different for each ``n``)."""
    if item.fill:
        return f"A1B2C3{n:02X}"
    if item.subs:
        return "".join(sample(sub, n) + "," for sub in item.subs)
    rule = item.rule
    if rule is R.DATE:
        return f"2020{n:02d}15"
    if rule is R.YEAR_MONTH:
        return f"2021{n:02d}"
    for known, value in ((R.REGION, "440106"), (R.PHONE, f"020-8765{n}"), (R.NATIONALITY_CODE, "FRA"),
                         (R.POLITICAL, "01"), (R.DIGITS, f"2{n}")):
        if rule is known:
            return value
    if item.fmt is AN:
        return f"测试{n}" if item.length >= 5 else f"{n}X"[:item.length]
    return f"3{n}141592"[:2 * item.length]


def addresses(ef: EF) -> tuple[str, dict[str, str]]:
    """pFileAddr's items for every item of ``ef`` and the values to write, by address."""
    if isinstance(ef, BinaryFile):
        return "01|", {"01": sample(ef.content)}
    assert isinstance(ef, RecordFile)
    values = {ef.address(it): sample(it, n) for n, it in enumerate(ef.items, 1)}
    return "".join(f"{a}|" for a in values), values


@pytest.mark.parametrize("df, ef", FILES, ids=IDS)
def test_every_file_is_written_and_read_back(make_driver, df, ef):
    driver, _ = make_driver("gen2", *[PIN] * 4)
    name = df + ef.name
    if isinstance(ef, RecordFile) and ef.cyclic_records:
        assert ef.layout is not None
        first, second = sample(ef.layout, 1), sample(ef.layout, 2)
        for value in (first, second):
            assert driver.iWriteCard(1, "", f"{name}:01$", f"{name}:01|{value}|$") == (0, "")
        assert driver.iReadCard(1, 2, "", f"{name}:01${name}:02$") == (
            0, f"{name}:01|{second}|${name}:02|{first}|$")                # the newest first
        return
    items, values = addresses(ef)
    data = "".join(v + "|" for v in values.values())
    assert driver.iWriteCard(1, "", f"{name}|{items}$", f"{name}|{data}$") == (0, "")
    assert driver.iReadCard(1, 2, "", f"{name}|{items}$") == (0, f"{name}|{data}$")
    assert driver.iReadCard(1, 2, "", f"{name}|$") == (0, f"{name}|{data}$")     # every item, in record order


@pytest.mark.parametrize("df, ef", FILES, ids=IDS)
def test_a_card_of_other_keys_refuses_read_and_write(make_driver, df, ef):
    """The PSAM's keys do not open a card of another issuer: EXTERNAL AUTHENTICATE answers 63C2, the interface
    -0x63C2, the try is counted and nothing is written. DF01 EF16–EF1A are read without a key, DF03 EF19 with the
    PIN (a wrong one: -51)."""
    first = "000000" if ef.read.cond is Cond.PIN else PIN
    driver, _ = make_driver("gen2", first, *[PIN] * 3, issuer=forged_keys(Alg.DES3))
    name = df + ef.name
    target = f"{name}:01$" if isinstance(ef, RecordFile) and ef.cyclic_records else f"{name}|$"
    code = driver.iReadCard(1, 1, "", target)[0]      # iAuthType 1: a forged card fails internal authentication
    if ef.read.cond is Cond.FREE:
        assert code == 0
    elif ef.read.cond is Cond.PIN:
        assert code == E.PIN_VERIFY_FAILED
    else:
        assert code == -0x63C2 and tries(driver, df, ef.read.key_id) == 2
    before = records(driver)
    if isinstance(ef, RecordFile) and ef.cyclic_records:
        assert ef.layout is not None
        write = (f"{name}:01$", f"{name}:01|{sample(ef.layout)}|$")
    else:
        items, values = addresses(ef)
        write = (f"{name}|{items}$", f"{name}|" + "".join(v + "|" for v in values.values()) + "$")
    assert driver.iWriteCard(1, "", *write)[0] == -0x63C2
    assert records(driver) == before and tries(driver, df, ef.update.key_id) <= 2


def test_a_psam_without_the_read_key_is_minus_2203(make_driver, images):
    term = images.terminal(images.card("gen2"), images.psam("440100", drop=("DF07.RK2",)))
    driver = SSCardDriver(term)
    assert driver.iReadCard(1, 2, "", "DF07EF05|$")[0] == 0
    assert driver.iReadCard(1, 2, "", "DF07EF06|F5|$")[0] == E.PSAM_NO_RK


# --- B-TLV templates: tag:NN -------------------------------------------------------------------------------------
REGION_1 = "123,440100,20150701,20250630,12345,110,20150701,"


def test_template_records_are_addressed_tag_nn(make_driver):
    driver, _ = make_driver("gen2", *[PIN] * 4)
    other = "456,440300,20160101,20261231,99,120,20160101,"
    assert driver.iWriteCard(1, "", "DF03EF19|79:03|$", f"DF03EF19|{other}|$") == (0, "")
    assert driver.iReadCard(1, 2, "", "DF03EF19|79:03|79:01|79:02|79|$") == (
        0, f"DF03EF19|{other}|{REGION_1}||{REGION_1}|$")                 # 79 alone: the first record, as by tag
    assert driver.iWriteCard(1, "", "DF02EF15|99:04|0F|$", "DF02EF15|A1,20200229,123456,|20200301|$") == (0, "")
    assert driver.iReadCard(1, 2, "", "DF02EF15|99:04|99:01|0F|$") == (0, "DF02EF15|A1,20200229,123456,||20200301|$")


def test_the_last_comma_may_be_left_out_and_empty_sub_items_are_cleared(make_driver):
    driver, _ = make_driver("gen2", *[PIN] * 4)
    assert driver.iWriteCard(1, "", "DF03EF19|79:01|$", "DF03EF19|9,,,,,,20200101|$") == (0, "")
    assert driver.iReadCard(1, 2, "", "DF03EF19|79:01|$") == (0, "DF03EF19|9,,,,,,20200101,|$")


@pytest.mark.parametrize("addr, data, code", [
    ("DF03EF19|79:01|$", "DF03EF19|1,2,3,|$", E.ILLEGAL_INPUT),                  # 3 values for 7 sub-items
    ("DF03EF19|79:01|$", "DF03EF19|" + REGION_1 + "8,|$", E.ILLEGAL_INPUT),       # 8
    ("DF03EF19|79:01|$", "DF03EF19|1234,,,,,,,|$", E.DATA_LENGTH),                # sub-item 18 holds 3 bytes
    ("DF03EF19|79:01|$", "DF03EF19|,,20150230,,,,,|$", E.ILLEGAL_INPUT),          # 1A: not a real date
    ("DF03EF19|79:01|$", "DF03EF19|,A,,,,,,|$", E.ILLEGAL_CHARACTERS),            # 19 is cn
    ("DF03EF19|79:05|$", "DF03EF19|" + REGION_1 + "|$", -0x6A83),                 # four records only
    ("DF02EF07:02$", "DF02EF07:02|a,,,,|$", E.ILLEGAL_INPUT),                     # a new record is :01
    ("DF02EF07:01$", "DF02EF07:01|a,,,|$", E.ILLEGAL_INPUT),                      # 3 fields for 4
    ("DF02EF07:01$", "DF02EF07:01|a,2020,,,|$", E.ILLEGAL_INPUT),                 # field 2: a date
    ("DF01EF16|01|$", "DF01EF16|ABC|$", E.ILLEGAL_CHARACTERS),                    # odd hex
    ("DF01EF16|01|$", "DF01EF16|" + "00" * 297 + "|$", E.DATA_LENGTH),            # 296 bytes
])
def test_malformed_values_are_refused_before_the_card_sees_them(make_driver, addr, data, code):
    driver, _ = make_driver("gen2")
    before = records(driver)
    assert driver.iWriteCard(1, "", addr, data)[0] == code
    assert records(driver) == before and tries(driver, "DF03", 0x8D) == 3


def test_a_malformed_template_record_on_the_card_is_refused(make_driver):
    """A card whose record 79:02 does not hold 79's sub-items: reading it is the card's fault (6F00, nothing
    shifted into other fields), the other records read as ever, and writing the record whole mends it."""
    driver, _ = make_driver("gen2", *[PIN] * 6)
    dev = card_os(driver)
    recs = dev.image.dfs["DF03"].records[0xEF19]
    recs[1] = recs[1][:2] + b"\x19" + recs[1][3:]                      # sub-item 1 tagged 19, not 18
    dev.persist()                                                      # the card's memory, as it is on disk
    code, out = driver.iReadCard(1, 2, "", "DF03EF19|79:02|$")
    assert code == -0x6F00 and "sub-item 1" in out
    assert driver.iReadCard(1, 2, "", "DF03EF19|79:01|$") == (0, f"DF03EF19|{REGION_1}|$")
    assert driver.iWriteCard(1, "", "DF03EF19|79:02|$", f"DF03EF19|{REGION_1}|$") == (0, "")
    assert driver.iReadCard(1, 2, "", "DF03EF19|79:02|$") == (0, f"DF03EF19|{REGION_1}|$")


def test_template_records_through_the_hsm_steps(make_driver):
    from firmware_sim.hsm import SoftwareHsm
    driver, _ = make_driver("gen2", psam=None)
    code, step1 = driver.iWriteCard_HSM_Step1(1, "", "DF02EF15|99:02|$")
    assert code == 0
    assert driver.iWriteCard_HSM_Step2(SoftwareHsm().write_card(step1), "DF02EF15|B2,20200101,1,|$") == (0, "")
    code, step1 = driver.iReadCard_HSM_Step1(1, "", "DF02EF15|99:02|$")
    assert driver.iReadCard_HSM_Step2(SoftwareHsm().read_card(step1)) == (0, "DF02EF15|B2,20200101,1,|$")


def test_a_sim_reader_spec(tmp_path):
    """The same through a ``sim:CARD.json`` reader: the demo card written and read back."""
    import shutil

    from firmware_sim.demo import DEMO_DIR
    from host.standard import ScriptedPins
    card = shutil.copy(DEMO_DIR / "guangzhou-gen2.json", tmp_path / "card.json")
    driver = SSCardDriver(f"sim:{card}", pin_entry=ScriptedPins([PIN] * 3))
    assert driver.iWriteCard(1, "", "DF07EF06|F6|$", "DF07EF06|20240102|$") == (0, "")
    again = SSCardDriver(f"sim:{card}", pin_entry=ScriptedPins([PIN] * 3))
    assert again.iReadCard(1, 1, "", "DF07EF06|F6|$DF03EF19|79:01|$") == (0, f"DF07EF06|20240102|$DF03EF19|{REGION_1}|$")
