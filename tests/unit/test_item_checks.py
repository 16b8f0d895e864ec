"""The one check of card item values (protocols.item_checks, beside each item in protocols.profile) and the
one PIN rule (protocols.pin)."""
from __future__ import annotations

import pytest

from protocols import holder_codes as codes
from protocols.item_checks import CHARSET, LENGTH, VALUE, ItemValueError, check_id_number, id_check_character
from protocols.pin import PIN_DIGITS, PinFormatError, check_pin
from protocols.profile import GEN1, GEN2, GEN3, CardProfile, Item, RecordFile

EF06 = GEN2.ssse.ef("EF06")
assert isinstance(EF06, RecordFile)


def item(path: str, name: str) -> Item:
    _, ef = GEN2.find_file(path)
    assert isinstance(ef, RecordFile)
    return ef.item(name)


@pytest.mark.parametrize("prof", [GEN1, GEN2, GEN3], ids=lambda p: p.name)
def test_every_item_example_passes_its_own_check(prof: CardProfile) -> None:
    for df in prof.dfs:
        for ef in df.files:
            if isinstance(ef, RecordFile):
                for it in ef.items:
                    it.check(it.example)


# GB 11643-1999 check characters: ISO 7064 MOD 11-2 over the first 17 digits, 10 written X. The first is the
# standard's own worked example (GB 11643-1999 annex A: 11010519491231002X).
@pytest.mark.parametrize("number", ["11010519491231002X", "440106198503127719", "44030419920721452X",
                                    "440604197011083051"])
def test_citizen_id_numbers_with_their_check_character(number: str) -> None:
    assert id_check_character(number[:17]) == number[17]
    check_id_number(number)


@pytest.mark.parametrize("number, why", [
    ("440106198503127715", "check character does not match"),     # one digit off
    ("440106198503127791", "check character does not match"),     # two digits swapped
    ("44030419920721452x", "upper-case X"),
    ("4401061985031277", "16 characters"),
    ("4401061985031277190", "19 characters"),
    ("44010619850312771A", "character 18"),
    ("44010619851312771X", "birth date"),                         # month 13
    ("440106198502307710", "birth date"),                         # 30 February
    ("４４０１０６１９８５０３１２７７１９", "character 1 is not a digit"),
])
def test_citizen_id_numbers_refused(number: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as err:
        check_id_number(number)
    assert number not in str(err.value)


@pytest.mark.parametrize("path, name, value, kind, words", [
    ("SSSEEF06", "birth_date", "19900230", VALUE, "not a real calendar date"),
    ("SSSEEF05", "issue_date", "20241301", VALUE, "not a real calendar date"),
    ("SSSEEF05", "expiry_date", "2034030", VALUE, "7 characters"),
    ("SSSEEF06", "birth_date", "1990010A", CHARSET, "character 8 is not a digit"),
    ("SSSEEF06", "birth_date", "199001011", LENGTH, "9 digits, the item holds 8"),
    ("SSSEEF06", "sex", "3", VALUE, "GB/T 2261.1"),
    ("SSSEEF06", "ethnicity", "57", VALUE, "GB/T 3304"),
    ("SSSEEF06", "ethnicity", "00", VALUE, "01 to 56"),
    ("SSSEEF06", "birthplace", "990106", VALUE, "province-level"),
    ("SSSEEF06", "birthplace", "44010", VALUE, "5 digits"),
    ("SSSEEF06", "ssn", "440106198503127715", VALUE, "check character"),
    ("SSSEEF06", "ssn", "", VALUE, "required"),
    ("SSSEEF06", "name", "", VALUE, "required"),
    ("SSSEEF06", "name", "陈\n", CHARSET, "control character"),
    ("SSSEEF06", "name", "𠀀", CHARSET, "GBK"),
    ("SSSEEF06", "name", "名" * 16, LENGTH, "32 bytes in GBK, the item holds 30"),
    ("SSSEEF05", "card_number", "a44010001", CHARSET, "character 1"),
    ("SSSEEF05", "card_number", "A4401000", VALUE, "8 characters"),
    ("DF01EF0A", "nationality", "XYZ", VALUE, "GB/T 2659"),
    ("DF01EF0A", "nationality", "chn", VALUE, "GB/T 2659"),
    ("DF01EF0A", "political_status", "14", VALUE, "GB/T 4762"),
    ("DF01EF06", "guardian_phone", "020 1234", CHARSET, "character 4"),
    ("DF03EF15", "df03ef15_7a", "201213", VALUE, "not a real month"),
    ("DF03EF07", "df03ef07_6e", "20130230", VALUE, "real calendar date"),
    ("DF01EF06", "phone", "139 0013", CHARSET, "character 4"),
    ("DF03EF19", "insurance_region_1", "1234,,,,,,,", LENGTH, "sub-item 18: 4 bytes in GBK, the item holds 3"),
    ("DF03EF19", "insurance_region_2", ",,20150230,,,,,", VALUE, "sub-item 1A: not a real calendar date"),
    ("DF03EF19", "insurance_region_1", "1,2,3", VALUE, "3 value"),
    ("DF02EF15", "df02ef15_99_1", "1,2", VALUE, "2 value"),
])
def test_values_refused_name_the_item_and_the_kind(path: str, name: str, value: str, kind: str, words: str) -> None:
    it = item(path, name)
    with pytest.raises(ItemValueError, match=words) as err:
        it.check(value)
    assert err.value.kind == kind and str(err.value).startswith(f"{name} ({it.title}): ")
    if len(value) > 3:
        assert value not in str(err.value)


@pytest.mark.parametrize("path, name, value", [
    ("SSSEEF06", "birth_date", "20000229"),
    ("SSSEEF06", "birth_date", ""),                 # unset (all FF on the card)
    ("SSSEEF06", "sex", "2"),
    ("SSSEEF06", "ethnicity", "56"),
    ("SSSEEF06", "birthplace", "820000"),
    ("SSSEEF06", "ssn", "11010519491231002X"),
    ("DF01EF0A", "nationality", "FRA"),
    ("DF01EF0A", "political_status", "01"),
    ("DF01EF06", "phone", "020-87654321"),
    ("DF03EF19", "insurance_region_3", "123,440100,20150701,20250630,12345,110,20150701,"),
    ("DF03EF19", "insurance_region_3", "123,440100,20150701,20250630,12345,110,20150701"),   # no last comma
    ("DF03EF19", "insurance_region_4", ""),                                                      # every sub-item empty
    ("DF03EF16", "df03ef16_51", "201212"),
])
def test_values_accepted(path: str, name: str, value: str) -> None:
    item(path, name).check(value)


def test_code_tables() -> None:
    assert set(codes.ETHNICITY) == {f"{n:02d}" for n in range(1, 57)} | {"97", "98"}
    assert codes.ETHNICITY["01"].zh == "汉族" and codes.ETHNICITY["56"].zh == "基诺族"
    assert set(codes.SEX) == {"0", "1", "2", "9"}
    assert len(codes.POLITICAL_STATUS) == 13 and codes.POLITICAL_STATUS["13"] == "群众"
    alpha3 = codes.nationality_codes()
    assert {"CHN", "HKG", "MAC", "USA", "SSD"} <= alpha3 and len(alpha3) == 249
    assert all(len(c) == 3 and c.isupper() for c in alpha3)


def test_format_only_leaves_the_rule_out() -> None:
    it = item("SSSEEF06", "sex")
    it.check_format("3")                            # one ASCII character fits …
    with pytest.raises(ItemValueError):
        it.check("3")                               # … but is no GB/T 2261.1 code


# --- the PIN rule ---------------------------------------------------------------------------------------------
def test_the_pin_rule() -> None:
    assert PIN_DIGITS == 6 and check_pin("123456") == "123456"
    for pin, kind in (("12345", "length"), ("1234567", "length"), ("", "length"), ("12a456", "charset"),
                      ("１２３４５６", "charset")):
        with pytest.raises(PinFormatError) as err:
            check_pin(pin)
        assert err.value.kind == kind and (not pin or pin not in str(err.value))


def test_the_standard_interface_follows_the_pin_rule() -> None:
    from host import errors as E
    from host.standard.pinpad import PIN_LENGTH, PinPrompt, ScriptedPins, ask_pin
    assert PIN_LENGTH == PIN_DIGITS
    for pin, error in (("12345", E.PinLengthError), ("1234567", E.PinLengthError), ("12a456", E.IllegalCharacters)):
        with pytest.raises(error):
            ask_pin(ScriptedPins.of(pin), PinPrompt.CURRENT)
    assert ask_pin(ScriptedPins.of(" 123456 "), PinPrompt.CURRENT) == "123456"
