"""protocols.emv: the bank application's shared rules (Luhn, track 2, DOLs, AFL, GPO responses, directories)."""
from __future__ import annotations

import datetime as dt

import pytest

from protocols import emv
from protocols.errors import MalformedFrame
from protocols.tlv import ber_encode


def test_luhn_known_values() -> None:
    # ISO/IEC 7812-1 Annex B's worked number and check digits computed by hand.
    assert emv.luhn_valid("79927398713")
    assert not emv.luhn_valid("79927398710")
    assert emv.luhn_check_digit("7992739871") == "3"
    for body in ("4", "62", "999999003212345678", "0000000000"):
        number = body + emv.luhn_check_digit(body)
        assert emv.luhn_valid(number)
        wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
        assert not emv.luhn_valid(wrong)
    assert not emv.luhn_valid("") and not emv.luhn_valid("7") and not emv.luhn_valid("79927398x13")
    with pytest.raises(ValueError):
        emv.luhn_check_digit("12a4")


def test_luhn_catches_every_single_digit_error() -> None:
    number = "9999990032126059533"
    assert emv.luhn_valid(number)
    for i in range(len(number)):
        for d in "0123456789":
            if d != number[i]:
                assert not emv.luhn_valid(number[:i] + d + number[i + 1:])


def test_check_pan_and_mask() -> None:
    emv.check_pan("9999990032126059533")
    for bad, why in (("99999900321260595", "Luhn"), ("12345678903", "11 digits"), ("9999 9900", "digits")):
        with pytest.raises(ValueError, match=why) as info:
            emv.check_pan(bad)
        assert bad not in str(info.value)                       # the value is never in the message
    assert emv.mask_pan("9999990032126059533") == "999999*********9533"
    assert emv.mask_pan("6212345678901234") == "621234******1234"
    assert emv.mask_pan("1234567890") == "**********"


def test_cn_and_n_codecs() -> None:
    assert emv.encode_cn("9999990032126059533") == bytes.fromhex("9999990032126059533F")
    assert emv.decode_cn(bytes.fromhex("9999990032126059533F")) == "9999990032126059533"
    assert emv.encode_cn("12", 3) == bytes.fromhex("12FFFF")
    assert emv.encode_n("156", 2) == bytes.fromhex("0156") and emv.decode_n(bytes.fromhex("0156")) == "0156"
    with pytest.raises(ValueError):
        emv.decode_cn(bytes.fromhex("12F3"))                 # a digit after the padding
    with pytest.raises(ValueError):
        emv.decode_n(bytes.fromhex("1A"))


def test_dates() -> None:
    assert emv.check_yymmdd("290315") == dt.date(2029, 3, 15)
    assert emv.end_of_month("2902") == "290228" and emv.end_of_month("2802") == "280229"
    for bad in ("290230", "2903", "29031x"):
        with pytest.raises(ValueError):
            emv.check_yymmdd(bad)
    with pytest.raises(ValueError):
        emv.end_of_month("2913")


def test_track2_round_trip_and_layout() -> None:
    t2 = emv.Track2("9999990032126059533", "2903", "220", "000000000")
    raw = t2.encode()
    assert raw.hex().upper() == "9999990032126059533D2903220000000000"
    assert emv.Track2.decode(raw) == t2
    pan16 = "999999123456789" + emv.luhn_check_digit("999999123456789")
    odd = emv.Track2(pan16, "2512", "220", "12345").encode()
    assert odd.hex().upper().endswith("F") and emv.Track2.decode(odd).discretionary == "12345"
    for bad in ("9999990032126059533F", "99D29F"):
        with pytest.raises(ValueError):
            emv.Track2.decode(bytes.fromhex(bad.ljust(len(bad) + len(bad) % 2, "F")))
    with pytest.raises(ValueError):
        emv.Track2("9999990032126059534", "2903", "220", "").encode()   # Luhn


def test_dol_parse_and_build_follow_book3_5_4() -> None:
    dol = emv.UNIONPAY_DEBIT_PDOL
    assert emv.parse_dol(dol) == ((0x9F7A, 1), (0x9F02, 6), (0x5F2A, 2))
    assert emv.dol_length(dol) == 9
    data = emv.build_dol_data(dol, {0x9F7A: b"\x01", 0x9F02: emv.encode_n("100", 6), 0x5F2A: bytes.fromhex("0156")})
    assert data.hex().upper() == "01" "000000000100" "0156"
    # numeric: cut and padded on the left; other formats on the right; unknown data objects are zeros
    wide = bytes.fromhex("9F0208" "9F0202" "9F3702" "9F3706" "9F4E04")
    values = {0x9F02: emv.encode_n("12345", 6), 0x9F37: bytes.fromhex("A1B2C3D4")}
    assert emv.build_dol_data(wide, values).hex().upper() == (
        "0000000000012345" "2345" "A1B2" "A1B2C3D40000" "00000000")
    for bad in ("9F", "9F02", "7001", "9F0281"):
        with pytest.raises(MalformedFrame):
            emv.parse_dol(bytes.fromhex(bad))


def test_afl_rules_of_book3_10_2() -> None:
    afl = bytes.fromhex("08010200" "10010100")
    entries = emv.parse_afl(afl)
    assert entries == (emv.AflEntry(1, 1, 2), emv.AflEntry(2, 1, 1))
    assert list(emv.afl_records(entries)) == [(1, 1), (1, 2), (2, 1)]
    assert emv.encode_afl(entries) == afl
    for bad, what in (("080102", "4-byte"), ("", "4-byte"), ("09010100", "SFI byte"), ("00010100", "SFI byte"),
                      ("F8010100", "SFI byte"), ("08000100", "records"), ("08020100", "records"),
                      ("08010203", "ODA")):
        with pytest.raises(MalformedFrame, match=what):
            emv.parse_afl(bytes.fromhex(bad))


def test_gpo_data_and_both_response_formats() -> None:
    assert emv.gpo_data(bytes(9)).hex().upper() == "8309" + "00" * 9
    assert emv.gpo_data(b"") == bytes.fromhex("8300")
    afl = emv.encode_afl((emv.AflEntry(1, 1, 2), emv.AflEntry(2, 1, 1)))
    f2 = emv.gpo_response(bytes.fromhex("1800"), afl)
    assert f2.hex().upper() == "770E8202180094080801020010010100"
    assert emv.parse_gpo_response(f2) == (bytes.fromhex("1800"), emv.parse_afl(afl))
    f1 = bytes.fromhex("800A" "7C00" "08010100" "10010301")
    assert emv.parse_gpo_response(f1)[1] == (emv.AflEntry(1, 1, 1), emv.AflEntry(2, 1, 3, 1))
    for bad in ("6F02820118", "7704820218 00", "8004 7C000801"):
        with pytest.raises(MalformedFrame):
            emv.parse_gpo_response(bytes.fromhex(bad.replace(" ", "")))


def test_directory_entries_of_a_pse_record_and_a_ppse_fci_in_priority_order() -> None:
    debit = emv.DirectoryEntry(emv.UNIONPAY_DEBIT, "PBOC DEBIT", 1)
    credit = emv.DirectoryEntry(emv.UNIONPAY_CREDIT, "PBOC CREDIT", 2)
    # the PSE record of a PBOC debit personalisation: 70 1B 61 19 4F 08 … 50 0A "PBOC DEBIT" 87 01 01
    assert debit.encode().hex().upper() == "61194F08A000000333010101500A50424F43204445424954870101"
    record = ber_encode(0x70, credit.encode() + debit.encode())
    assert emv.directory_entries(record) == (credit, debit)
    ppse = ber_encode(0x6F, ber_encode(0x84, emv.PPSE_NAME) + ber_encode(0xA5, ber_encode(0xBF0C, debit.encode())))
    assert emv.directory_entries(ppse) == (debit,)
    none = emv.DirectoryEntry(emv.UNIONPAY_QUASI_CREDIT, "X", 0)
    assert sorted([none, credit, debit], key=emv.DirectoryEntry.order) == [debit, credit, none]
    with pytest.raises(MalformedFrame):
        emv.directory_entries(bytes.fromhex("70036101FF"))


def test_record_objects() -> None:
    rec = emv.record([(emv.PAN, emv.encode_cn("9999990032126059533")), (emv.EXPIRY, bytes.fromhex("290315"))])
    assert emv.record_objects(rec) == {0x5A: bytes.fromhex("9999990032126059533F"), 0x5F24: bytes.fromhex("290315")}
    for bad in ("77025A00", "70025A0070025A00", "7003"):
        with pytest.raises(MalformedFrame):
            emv.record_objects(bytes.fromhex(bad))
