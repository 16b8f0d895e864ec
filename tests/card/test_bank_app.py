"""The bank application on the emulated card: its answers, one negative test per rule, and its image section
(docs/design.md §3.2)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from firmware_sim.apps.bank import TEST_BIN, BankData
from firmware_sim.card_os import CardOS
from firmware_sim.demo import DEMO_PEOPLE, demo_card
from firmware_sim.image import CardImage, load_card, load_json
from protocols import emv
from protocols.errors import BadCardImage
from protocols.tlv import ber_find
from tests.card.conftest import SSSE, Card, make_image

PSE = "00A404000E" + emv.PSE_NAME.hex().upper()
PPSE = "00A404000E" + emv.PPSE_NAME.hex().upper()
AID = "00A4040008A000000333010101"
GPO = "80A800000B8309" + "00" + "000000000000" + "0156" + "00"    # 9F7A 00, amount 0, CNY (docs/sources.md#bank)


@pytest.fixture
def bank(card2: Card) -> Card:
    """A fresh gen2 card with the bank application's AID selected."""
    assert card2(AID + "00")[1] == 0x9000
    return card2


def _processing(card: Card) -> Card:
    assert card(GPO)[1] == 0x9000
    return card


# --- what the application answers ------------------------------------------------------------------------------
def test_select_mf_names_the_payment_system_environment(card2: Card) -> None:
    """A real 2012 card answers SELECT MF with ``6F 10 84 0E 1PAY.SYS.DDF01`` (docs/sources.md#bank)."""
    assert card2("00A40000023F00") == (b"", 0x6112)
    assert card2("00C0000012") == (bytes.fromhex("6F10840E") + emv.PSE_NAME, 0x9000)


def test_select_mf_with_le_answers_the_fci_at_once(card2: Card) -> None:
    assert card2("00A40000023F0000") == (bytes.fromhex("6F10840E") + emv.PSE_NAME, 0x9000)
    assert card2("00A4000C023F00") == (b"", 0x9000)                  # P2 0C: no FCI


def test_select_with_p2_0c_enters_the_application_without_its_fci(card2: Card) -> None:
    assert card2("00A4040C08A000000333010101") == (b"", 0x9000)
    assert card2(GPO)[1] == 0x9000                                     # the AID is selected


def test_pse_fci_names_its_directory_and_the_directory_names_the_aid(card2: Card) -> None:
    fci, sw = card2(PSE + "00")
    assert sw == 0x9000
    assert fci == bytes.fromhex("6F1E840E") + emv.PSE_NAME + bytes.fromhex("A50C8801015F2D027A689F110101")
    record, sw = card2("00B2010C00")                   # SFI 1 (the 88 of the FCI), record 1
    assert sw == 0x9000
    assert record.hex().upper() == "701B61194F08A000000333010101500A50424F43204445424954870101"
    assert emv.directory_entries(record) == (emv.DirectoryEntry(emv.UNIONPAY_DEBIT, "PBOC DEBIT", 1),)
    assert card2.sw("00B2020C00") == 0x6A83            # the end of the directory
    assert card2.sw("00B2011400") == 0x6A82            # no other file in the PSE
    assert card2.sw("80A8000002830000") == 0x6985      # GPO is the AID's, not the PSE's


def test_ppse_fci_holds_the_entries(card2: Card) -> None:
    fci, sw = card2(PPSE + "00")
    assert sw == 0x9000 and fci[:2] == b"\x6F\x30" and bytes.fromhex("BF0C1B61194F08") in fci
    assert emv.directory_entries(fci) == (emv.DirectoryEntry(emv.UNIONPAY_DEBIT, "PBOC DEBIT", 1),)
    assert card2.sw("00B2010C00") == 0x6A82            # the PPSE has no files


def test_aid_fci_has_label_priority_and_the_9_byte_pdol(card2: Card) -> None:
    data, sw = card2(AID)
    assert data == b"" and sw >> 8 == 0x61                       # case 3: offered with 61xx
    fci, sw = card2(f"00C00000{sw & 0xFF:02X}")
    assert sw == 0x9000 and fci[0] == 0x6F
    assert ber_find(fci, emv.DF_NAME) == emv.UNIONPAY_DEBIT
    assert ber_find(fci, emv.LABEL) == b"PBOC DEBIT" and ber_find(fci, emv.PRIORITY) == b"\x01"
    assert ber_find(fci, emv.PDOL) == bytes.fromhex("9F7A019F02065F2A02")
    assert emv.dol_length(ber_find(fci, emv.PDOL) or b"") == 9


def test_gpo_answers_format_2_with_aip_and_afl(bank: Card) -> None:
    data, sw = bank(GPO)
    assert sw == 0x9000
    aip, afl = emv.parse_gpo_response(data)
    assert data[0] == 0x77 and aip == bytes.fromhex("1800")      # no SDA/DDA/CDA: offline authentication left out
    assert afl == (emv.AflEntry(1, 1, 2), emv.AflEntry(2, 1, 1))
    bank(AID + "00")
    assert bank(GPO[:-2]) == (b"", 0x6110)                       # without Le: offered with 61xx, as SELECT
    assert bank("00C0000010") == (data, 0x9000)


def test_afl_records_hold_pan_track2_expiry_and_name(bank: Card) -> None:
    _processing(bank)
    objects: dict[int, bytes] = {}
    for sfi, rec in emv.afl_records(emv.parse_afl(bytes.fromhex("0801020010010100"))):
        data, sw = bank(f"00B2{rec:02X}{(sfi << 3) | 4:02X}00")
        assert sw == 0x9000 and data[0] == 0x70
        objects.update(emv.record_objects(data))
    image = bank.os.image.apps["bank"]
    assert isinstance(image, BankData)
    pan = emv.decode_cn(objects[emv.PAN])
    assert pan == image.pan and pan.startswith(TEST_BIN) and emv.luhn_valid(pan)
    track2 = emv.Track2.decode(objects[emv.TRACK2])
    assert (track2.pan, track2.expiry, track2.service_code) == (pan, image.expiry_date[:4], "220")
    assert objects[emv.EXPIRY].hex() == image.expiry_date == "340301"
    assert objects[emv.EFFECTIVE].hex() == "240301" and objects[emv.PAN_SEQUENCE] == b"\x01"
    assert objects[emv.HOLDER_NAME] == b" /"                     # the test person has no bank name: none
    assert objects[emv.TRACK1_DISCRETIONARY] == b"000000"


def test_le_of_a_record_must_fit(bank: Card) -> None:
    _processing(bank)
    data, _ = bank("00B2010C00")
    assert bank("00B2010C05") == (b"", 0x6C00 | len(data))
    assert bank(f"00B2010C{len(data):02X}") == (data, 0x9000)


# --- one negative test per rule ----------------------------------------------------------------------------------
def test_gpo_before_select_is_refused(card2: Card) -> None:
    assert card2.sw(GPO) == 0x6985                     # nothing selected
    card2(SSSE)
    assert card2.sw(GPO) == 0x6985                     # the social security environment is selected


def test_gpo_after_another_select_is_refused(bank: Card) -> None:
    bank(SSSE)
    assert bank.sw(GPO) == 0x6985
    assert bank.sw("00B2010C00") == 0x6A82             # READ RECORD is the card OS's again: SSSE has no SFI 1
    bank(AID + "00")
    assert bank.sw(GPO) == 0x9000                      # a new selection of the AID starts over


def test_gpo_twice_is_refused(bank: Card) -> None:
    _processing(bank)
    assert bank.sw(GPO) == 0x6985


@pytest.mark.parametrize("apdu", [
    "80A800000A8308" + "00" * 8 + "00",                # 8 bytes of PDOL data for a 9-byte PDOL
    "80A800000C830A" + "00" * 10 + "00",               # 10 bytes
    "80A800000B8308" + "00" * 9 + "00",                # the 83 length disagrees with Lc
    "80A80000028300" + "00",                           # no PDOL data
], ids=["short", "long", "inner-length", "empty"])
def test_gpo_with_wrong_length_is_6700(bank: Card, apdu: str) -> None:
    assert bank.sw(apdu) == 0x6700
    assert bank.sw(GPO) == 0x9000                      # a refused GPO does not use up the selection


def test_gpo_without_tag_83_is_6a80_and_wrong_p1p2_6a86(bank: Card) -> None:
    assert bank.sw("80A800000B8409" + "00" * 9 + "00") == 0x6A80
    assert bank.sw("80A80000018300") == 0x6A80
    assert bank.sw("80A801000B8309" + "00" * 9 + "00") == 0x6A86
    assert bank.sw("80A800010B8309" + "00" * 9 + "00") == 0x6A86


def test_read_record_before_gpo_is_refused(bank: Card) -> None:
    assert bank.sw("00B2010C00") == 0x6985


def test_read_record_outside_the_afl_is_6a83(bank: Card) -> None:
    _processing(bank)
    assert bank.sw("00B2030C00") == 0x6A83             # SFI 1 has records 1–2
    assert bank.sw("00B2021400") == 0x6A83             # SFI 2 has record 1
    assert bank.sw("00B2011C00") == 0x6A82             # SFI 3: no such file


@pytest.mark.parametrize("p1p2", ["010D", "0108", "010F", "0104", "01FC", "000C"],
                         ids=["mode-5", "mode-0", "mode-7", "sfi-0", "sfi-31", "record-0"])
def test_read_record_with_wrong_p1p2_is_6a86(bank: Card, p1p2: str) -> None:
    _processing(bank)
    assert bank.sw(f"00B2{p1p2}00") == 0x6A86


def test_read_record_with_data_is_6700(bank: Card) -> None:
    _processing(bank)
    assert bank.sw("00B2010C0100") == 0x6700


def test_commands_the_application_does_not_take(bank: Card) -> None:
    assert bank.sw("0020000003123456") == 0x6D00       # VERIFY: not a command of the bank application
    assert bank.sw("0084000008") == 0x6D00
    assert bank.sw("80B2010C00") == 0x6E00             # READ RECORD with a CLA it does not take
    assert bank.sw("00A8000002830000") == 0x6E00       # GPO with CLA 00 (the card's table: 6E00)


def test_an_unknown_name_ends_the_selection(bank: Card) -> None:
    assert bank.sw("00A4040008A000000333010199") == 0x6A82
    assert bank.sw(GPO) == 0x6985


def test_the_social_security_application_is_unchanged_beside_it(card2: Card) -> None:
    card2(AID + "00")
    _processing(card2)
    card2(SSSE)
    data, sw = card2("00B2072C0B")
    assert sw == 0x9000 and data == b"\x07\x09T44010001"
    assert card2.sw("0020000003123456") == 0x9000


def test_a_blocked_card_refuses_the_bank_application_too(card2: Card) -> None:
    card2.os.image.card_blocked = True
    assert card2.sw(AID + "00") == 0x6A81
    assert card2.sw(PSE + "00") == 0x6A81


def test_a_card_without_the_application(tmp_path: Path) -> None:
    card = Card(CardOS.from_file(make_image(tmp_path, "gen2", bank=False)))
    assert card.sw("00A40000023F00") == 0x9000         # SELECT MF: no FCI, as before
    for select in (PSE, PPSE, AID):
        assert card.sw(select + "00") == 0x6A82
    assert card.sw(GPO) == 0x6985


# --- the demo cards --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(DEMO_PEOPLE))
def test_demo_cards_carry_test_pans_that_pass_luhn(name: str) -> None:
    data = demo_card(name).apps["bank"]
    assert isinstance(data, BankData)
    assert data.pan.startswith(TEST_BIN) and len(data.pan) == 19 and emv.luhn_valid(data.pan)
    assert data.note.startswith("TEST ONLY") and data.holder_name == DEMO_PEOPLE[name][3]["bank_holder_name"]


def test_demo_pans_differ() -> None:
    pans = {demo_card(name).apps["bank"].pan for name in DEMO_PEOPLE}  # type: ignore[attr-defined]  # BankData
    assert len(pans) == len(DEMO_PEOPLE)


# --- the image section -------------------------------------------------------------------------------------------
def _doc(tmp_path: Path) -> dict:
    return load_json(make_image(tmp_path, "gen2"))


def test_section_round_trips_and_older_images_load(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    assert list(doc["apps"]) == ["bank"] and doc["apps"]["bank"]["note"].startswith("TEST ONLY")
    assert CardImage.from_json(doc).to_json() == doc
    old = copy.deepcopy(doc)
    del old["apps"]                                    # an sscard.card/2 image from before applications
    image = CardImage.from_json(old)
    assert image.apps == {} and "apps" not in image.to_json()


def _bad(doc: dict, match: str) -> None:
    with pytest.raises(BadCardImage, match=match) as info:
        CardImage.from_json(doc)
    apps = doc.get("apps")
    section = apps.get("bank") if isinstance(apps, dict) else None
    pan = section.get("pan") if isinstance(section, dict) else None
    if isinstance(pan, str) and len(pan) > 6:
        assert pan not in str(info.value)              # a card number is never in a message


@pytest.mark.parametrize("field, value, match", [
    ("pan", "9999990032126059534", r"apps\.bank\.pan: .*Luhn"),
    ("pan", "123456000000000000" + emv.luhn_check_digit("123456000000000000"),
     r"apps\.bank\.pan: not on the test BIN 999999"),
    ("pan", "99999900321", r"apps\.bank\.pan: card number of 11 digits"),
    ("pan", 9999990032126059533, r"apps\.bank\.pan: expected a string"),
    ("pan_sequence", "1", r"apps\.bank\.pan_sequence: expected 2 digits"),
    ("service_code", "2200", r"apps\.bank\.service_code: expected 3 digits"),
    ("expiry_date", "341301", r"apps\.bank\.expiry_date: expected a real date YYMMDD"),
    ("effective_date", "2403", r"apps\.bank\.effective_date: expected a real date YYMMDD"),
    ("expiry_date", "240301", r"apps\.bank\.expiry_date: not after effective_date"),
    ("holder_name", "陈晓明", r"apps\.bank\.holder_name: expected 2 to 26 printable ASCII"),
    ("holder_name", "X" * 27, r"apps\.bank\.holder_name: expected 2 to 26"),
    ("aid", "A0000003", r"apps\.bank\.aid: 4 bytes"),
    ("aid", "A00000033301010Z", r"apps\.bank\.aid: not hexadecimal"),
    ("label", "", r"apps\.bank\.label: expected 1 to 16"),
    ("priority", 16, r"apps\.bank\.priority: 16 not in 0\.\.15"),
    ("priority", True, r"apps\.bank\.priority: True not in"),
    ("pdol", "9F02", r"apps\.bank\.pdol: not a data object list"),
    ("pdol", "9F02FF" * 2, r"apps\.bank\.pdol: not a data object list"),
    ("note", None, r"apps\.bank\.note: expected a string"),
])
def test_each_field_is_checked_with_a_precise_error(tmp_path: Path, field: str, value: object, match: str) -> None:
    doc = _doc(tmp_path)
    doc["apps"]["bank"][field] = value
    _bad(doc, match)


def test_section_shape_errors(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    doc["apps"]["bank"]["cvv"] = "123"
    _bad(doc, r"apps\.bank: unknown field\(s\) cvv")
    doc = _doc(tmp_path)
    del doc["apps"]["bank"]["pan"]
    _bad(doc, r"apps\.bank: missing field\(s\) pan")
    doc = _doc(tmp_path)
    doc["apps"]["bank"] = []
    _bad(doc, r"apps\.bank: expected an object")
    doc = _doc(tmp_path)
    doc["apps"] = ["bank"]
    _bad(doc, r"apps: expected an object")
    doc = _doc(tmp_path)
    doc["apps"]["purse"] = {}
    _bad(doc, r"apps\.purse: no such application \(known: bank, pki\)")


def test_a_bad_section_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = make_image(tmp_path, "gen2")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["apps"]["bank"]["pan_sequence"] = "x"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(BadCardImage, match=r"apps\.bank\.pan_sequence: expected 2 digits") as info:
        load_card(path)
    assert str(info.value).startswith(str(path))
