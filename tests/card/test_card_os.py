"""The card OS at APDU level: selection, reading, and the exact status word of every error."""
from __future__ import annotations

from pathlib import Path

from firmware_sim.card_os import CardOS
from tests.card.authn import external_auth
from tests.card.conftest import SSSE, Card, make_image


SSSE_NAME_HEX = "7378312E73682EC9E7BBE1B1A3D5CF"
# docs/design.md §3 (real gen2 card [T-LOUDI], gen3 card [SI3]): no 9F0C on gen1/gen2 means 3DES.
FCI_GEN2 = bytes.fromhex("6F16" + "840F" + SSSE_NAME_HEX + "A503" + "88011E")
FCI_GEN3 = bytes.fromhex("6F1C" + "840F" + SSSE_NAME_HEX + "A509" + "88011E" + "9F0C03860103")


def test_select_ssse_by_name_offers_fci_with_61xx_then_get_response(card2: Card) -> None:
    data, sw = card2(SSSE)
    assert (data, sw) == (b"", 0x6118)                               # T=0: 61 18 then GET RESPONSE
    fci, sw = card2("00C0000018")
    assert (fci, sw) == (FCI_GEN2, 0x9000)
    assert bytes.fromhex("9F0C") not in fci                          # gen2 does not name the algorithm


def test_select_ssse_on_gen3_names_sm4(card3: Card) -> None:
    assert card3(SSSE) == (b"", 0x611E)
    assert card3("00C000001E") == (FCI_GEN3, 0x9000)


def test_select_ssse_with_le_00_returns_fci_directly(card2: Card, card3: Card) -> None:
    assert card2(SSSE + "00") == (FCI_GEN2, 0x9000)
    assert card3(SSSE + "00") == (FCI_GEN3, 0x9000)


def test_select_by_name_takes_1_to_16_bytes(card2: Card) -> None:
    assert card2.sw("00A40400") == 0x6700                                # no name
    assert card2.sw("00A4040001D1") == 0x6A82                            # 1 byte: looked up, not found
    assert card2.sw("00A4040010" + "D1" * 16) == 0x6A82                 # 16 bytes: looked up, not found
    assert card2.sw("00A4040011" + "D1" * 17) == 0x6700
    assert card2(SSSE + "01") == (b"", 0x6C18)                           # Le short of the FCI: 6C and its length


def test_gen1_fci_has_no_algorithm(tmp_path: Path) -> None:
    card1 = Card(CardOS.from_file(make_image(tmp_path, "gen1")))
    assert card1(SSSE + "00") == (FCI_GEN2, 0x9000)


def test_real_reader_sequence_reads_card_number(any_card: Card) -> None:
    any_card(SSSE)
    for select_ef in ("00A4020002EF05", "00A4000002EF05"):
        assert any_card.sw(select_ef) == 0x9000
        data, sw = any_card("00B2072C0B")
        assert sw == 0x9000 and data[:2] == b"\x07\x09" and data[2:] == b"T44010001"


def test_read_record_by_tag_and_le_00(card2: Card) -> None:
    card2(SSSE)
    data, sw = card2("00B2083014")            # tag 08 in SFI 6: social security number
    assert sw == 0x9000 and data == b"\x08\x12" + b"440106199001011235"
    assert card2("00B2083000") == (data, 0x9000)                # Le 00
    data, sw = card2("00B2092C00")                                # by number: EF05 has 7 records
    assert sw == 0x6A83
    assert card2("00B2043400")[0][:2] == b"\x0A\x01"                # record 4 of EF06 is tag 0A (sex)


def test_read_record_current_ef_by_number_and_tag(card2: Card) -> None:
    card2(SSSE)
    card2("00A4020002EF06")
    assert card2("00B2020400")[0][:2] == b"\x09\x1E"                # record 2: name, 30 bytes
    assert card2("00B24E0000")[0][:2] == b"\x4E\x14"                # by tag 4E: name extension


def test_wrong_le_gets_6cxx_with_exact_length(card2: Card) -> None:
    card2(SSSE)
    assert card2("00B2072C05") == (b"", 0x6C0B)
    assert card2("00B2072C0C") == (b"", 0x6C0B)


def test_error_status_words(card2: Card) -> None:
    assert card2.sw("00A4020002EF05") == 0x6A82          # no DF selected yet: no such EF under the MF
    card2(SSSE)
    assert card2.sw("00A4020002EF99") == 0x6A82          # absent file
    assert card2.sw("00B2102C00") == 0x6A83              # absent record
    assert card2.sw("00B201FC00") == 0x6A82              # SFI 31 does not exist
    assert card2.sw("00FF000000") == 0x6D00              # unknown INS
    assert card2.sw("10B2012C00") == 0x6E00              # unknown CLA
    assert card2.sw("00B2012E00") == 0x6A86              # unsupported record mode (6)
    assert card2.sw("00B2012F00") == 0x6A86              # unsupported record mode (7)
    assert card2.sw("00A4080002EF05") == 0x6A86          # unsupported SELECT P1
    assert card2.sw("00A4020003EF0500") == 0x6700        # FID of 3 bytes
    assert card2.sw("00B2") == 0x6700                    # not an APDU
    assert card2.sw("00B2012C0501") == 0x6700            # Lc says 5, 1 byte follows


def test_read_record_mode_5_returns_all_records_from_p1_to_the_last(any_card: Card) -> None:
    """``00 B2 01 05 FF`` on a real gen2 card [T-LOUDI]: the records from P1 to the last, concatenated."""
    any_card(SSSE)
    records = [any_card(f"00B2{n:02X}2C00")[0] for n in range(1, 8)]   # EF05: 7 records, by number
    assert [len(r) for r in records] == [18, 3, 6, 14, 6, 6, 11]        # 16/1/4/12/4/4/9 + tag and length
    assert any_card("00B2012DFF") == (b"".join(records), 0x9000)
    assert any_card("00B2052DFF") == (b"".join(records[4:]), 0x9000)
    assert any_card("00B2072DFF") == (records[6], 0x9000)               # from the last: the last only
    assert any_card.sw("00B2082DFF") == 0x6A83                          # P1 past the last record
    assert any_card.sw("00B2002DFF") == 0x6A83
    any_card("00A4020002EF05")
    assert any_card("00B2060500") == (b"".join(records[5:]), 0x9000)    # SFI 0: the current EF


def test_read_record_mode_5_keeps_the_access_rule(card3: Card) -> None:
    card3(SSSE)
    assert card3("00B20135FF") == (b"", 0x6982)                         # gen3 EF06 needs key 0A, all modes


def test_read_record_mode_5_le_and_61xx(tmp_path: Path, card2: Card) -> None:
    """Mode 5 without Le offers the records with 61xx; an Le short of them is 6C and their length on a strict
    card (gen2), while gen1 answers them whatever Le says."""
    card2(SSSE)
    everything, sw = card2("00B2012DFF")
    assert sw == 0x9000 and len(everything) == 64
    assert card2("00B2012D01") == (b"", 0x6C40)
    assert card2("00B2012D") == (b"", 0x6140)
    assert card2("00C0000040") == (everything, 0x9000)
    card1 = Card(CardOS.from_file(make_image(tmp_path, "gen1")))
    card1(SSSE)
    everything1, _ = card1("00B2012DFF")
    assert card1("00B2012D01") == (everything1, 0x9000)


def test_read_record_with_data_is_6700_in_every_mode(card2: Card) -> None:
    card2(SSSE)
    for p2 in ("2C", "28", "2D"):                                         # by number, by tag, all from P1
        assert card2.sw(f"00B201{p2}010000") == 0x6700


def test_case1_read_record_gets_6cxx(card2: Card) -> None:
    card2(SSSE)
    assert card2("00B2012C") == (b"", 0x6C12)


def test_no_current_ef_and_incompatible_file(card2: Card) -> None:
    card2(SSSE)
    assert card2.sw("00B2010400") == 0x6986              # no current EF
    card2("00A4020002EF08")
    assert card2.sw("00B2010400") == 0x6981              # photo is transparent
    card2("00A4020002EF05")
    assert card2.sw("00B0000010") == 0x6981              # EF05 is a record file


def test_get_challenge_and_get_response(card2: Card) -> None:
    c1, sw = card2("0084000008")
    c2, _ = card2("0084000008")
    assert sw == 0x9000 and len(c1) == 8 and c1 != c2
    assert card2.sw("0084000003") == 0x6700
    assert card2.sw("0084010008") == 0x6A86
    assert card2.sw("00C0000010") == 0x6985              # nothing pending


def test_get_response_in_parts(card2: Card) -> None:
    _, sw = card2(SSSE)
    total = sw & 0xFF
    part, sw = card2("00C0000010")
    assert len(part) == 0x10 and sw == 0x6100 | (total - 0x10)
    rest, sw = card2(f"00C00000{total - 0x10:02X}")
    assert sw == 0x9000 and (part + rest)[0] == 0x6F


def test_pending_response_is_dropped_by_the_next_command(card2: Card) -> None:
    card2(SSSE)
    card2("0084000008")
    assert card2.sw("00C0000019") == 0x6985
    card2(SSSE)
    assert card2.sw("00B2") == 0x6700                    # even by one that is no APDU
    assert card2.sw("00C0000018") == 0x6985


def test_get_response_le(card2: Card) -> None:
    """GET RESPONSE takes P1 P2 00 00. Without Le, or with an Le past the data, it is 6C and the data's length,
    and the data stays; Le 00 takes all of it."""
    assert card2(SSSE) == (b"", 0x6118)
    assert card2.sw("00C0010018") == 0x6A86
    assert card2(SSSE) == (b"", 0x6118)
    assert card2("00C00000") == (b"", 0x6C18)
    assert card2("00C0000020") == (b"", 0x6C18)
    assert card2("00C0000000") == (FCI_GEN2, 0x9000)


def test_more_than_255_bytes_left_are_61_00(card2: Card) -> None:
    """DF02 EF07 keeps its newest 4 records of 85 bytes: all of them (340 bytes) come in parts, and while 256 or
    more are left GET RESPONSE says 61 00."""
    card2("00A4040006D15600000501")
    assert external_auth(card2, "DF02.UK3", 0x85, df="DF02") == 0x9000
    assert external_auth(card2, "DF02.RK", 0x88, df="DF02") == 0x9000
    entries = [bytes([n]) * 85 for n in range(1, 6)]
    for entry in entries:
        assert card2.raw(bytes.fromhex("00E2003855") + entry)[1] == 0x9000
    _, sw = card2("00B2013D")                            # all records from 1, no Le
    assert sw == 0x6100                                  # 340 bytes available: 256 or more
    first, sw = card2("00C0000020")
    assert (len(first), sw) == (32, 0x6100)              # 308 left
    middle, sw = card2("00C0000000")
    assert (len(middle), sw) == (256, 0x6134)            # 52 left
    last, sw = card2("00C0000034")
    assert sw == 0x9000
    assert first + middle + last == b"".join(reversed(entries[1:]))     # newest first; the oldest is gone


def test_from_file_passes_its_options_to_the_card(tmp_path: Path) -> None:
    card = Card(CardOS.from_file(make_image(tmp_path), rng=lambda n: bytes(range(n))))
    assert card("0084000008") == (bytes(range(8)), 0x9000)


def test_select_mf_and_df_by_fid(card2: Card, tmp_path: Path) -> None:
    # A card with the bank application offers the MF's FCI (tests/card/test_bank_app.py); without one: 9000.
    assert card2.sw("00A4000C023F00") == 0x9000
    assert Card(CardOS.from_file(make_image(tmp_path, "gen2", bank=False))).sw("00A40000023F00") == 0x9000
    _, sw = card2("00A4000002DDF1")
    assert sw >> 8 == 0x61
    assert card2.sw("00A4020002EF05") == 0x9000


def test_select_child_df_of_ssse_by_fid(card2: Card) -> None:
    """``00 A4 01 00 02 DFxx``: an application DF under SSSE by its FID [HUZHOU]."""
    assert card2.sw("00A4010002DF01") == 0x6A82          # from the MF: DF01 is not a child of the MF
    card2(SSSE)
    _, sw = card2("00A4010002DF01")
    assert sw >> 8 == 0x61
    fci, _ = card2(f"00C00000{sw & 0xFF:02X}")
    assert bytes.fromhex("8406D15600000500") in fci      # DF01's name
    assert card2("00B2012C00")[1] == 0x6982              # DF01 EF05 is current: its read key is needed
    assert card2.sw("00A4010002DF02") == 0x6A82          # DF02 is not a child of DF01
    card2(SSSE)
    assert card2.sw("00A4010002EF05") == 0x6A82          # P1 01 selects DFs only
    assert card2.sw("00A4010002DF09") == 0x6A82


def test_select_applications_by_aid(card2: Card) -> None:
    for aid in ("D15600000500", "D15600000501", "D15600000502", "D15600000503"):
        _, sw = card2("00A4040006" + aid)
        assert sw >> 8 == 0x61
    assert card2.sw("00A4040006D15600000599") == 0x6A82


def test_extended_length_apdus_are_understood(card2: Card) -> None:
    card2(SSSE)
    data, sw = card2("00B2072C000000")                      # extended Le 0000 = all
    assert sw == 0x9000 and data[:2] == b"\x07\x09"
    data, sw = card2("00A404000000 0F 7378312E73682EC9E7BBE1B1A3D5CF 0000".replace(" ", ""))
    assert sw == 0x9000 and data[0] == 0x6F
