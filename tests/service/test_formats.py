"""pFileAddr / pWriteData / pCardInfo syntax (docs/sources.md §6.2)."""
from __future__ import annotations

import pytest

from host import errors as E
from host.standard.formats import (
    FileRef, format_file_values, join_fields, parse_card_info, parse_file_addr, parse_write_data, split_fields,
)


def test_parse_file_addr_examples_from_the_notes():
    refs = parse_file_addr("SSSEEF05|05|06|07|$SSSEEF06|08|09|4E|0A|0B|0D|$")
    assert [(r.df, r.ef, r.items) for r in refs] == [
        ("SSSE", "EF05", ("05", "06", "07")), ("SSSE", "EF06", ("08", "09", "4E", "0A", "0B", "0D"))]
    assert parse_file_addr("DF04EF08:01$") == [FileRef("DF04", "EF08", 1, (), "DF04EF08:01")]
    assert parse_file_addr("DF02EF15|99:01|99:02|0F|1F|$")[0].items == ("99:01", "99:02", "0F", "1F")
    for name in ("MFEF06", "3F00EF06", "mfef06"):
        assert parse_file_addr(f"{name}|09|$")[0].df == "SSSE"


@pytest.mark.parametrize("bad", ["", "SSSEEF05|05|", "$", "SSSEEF05|05$", "SSSE|05|$", "DF04EF08:01|02|$",
                                 "SSSEEF05|5|$", "SSSEEF05|05||$"])
def test_parse_file_addr_rejects(bad):
    with pytest.raises(E.IllegalInput):
        parse_file_addr(bad)


def test_output_mirrors_input():
    refs = parse_file_addr("SSSEEF05|06|07|$SSSEEF06|09|$")
    assert format_file_values(refs, [["20330601", "B44030002"], ["林婉婷"]]) == \
        "SSSEEF05|20330601|B44030002|$SSSEEF06|林婉婷|$"


def test_write_data_shape():
    refs = parse_file_addr("SSSEEF06|09|0A|$")
    assert parse_write_data("SSSEEF06|王五|1|$", refs) == [("王五", "1")]
    for bad in ("SSSEEF06|王五|$", "SSSEEF05|王五|1|$", "SSSEEF06|王五|1|$SSSEEF05|x|$"):
        with pytest.raises(E.IllegalInput):
            parse_write_data(bad, refs)


def test_card_info():
    info = parse_card_info("440100d156000005bf7c7a010713624e|A44010001|")
    assert (info.card_id, info.card_number) == ("440100D156000005BF7C7A010713624E", "A44010001")
    assert parse_card_info("") == parse_card_info("|") == parse_card_info("||")
    with pytest.raises(E.CardInfoFormat):
        parse_card_info("1234|A44010001|")
    with pytest.raises(E.IllegalInput):
        parse_card_info("a|b|c|")


def test_fields_round_trip():
    assert join_fields(["a", "", "c"]) == "a||c|"
    assert split_fields("a||c|") == ["a", "", "c"]


def test_error_codes_table():
    assert E.error_code(E.WrongPin(0x63C1, 1)) == -51
    assert E.error_code(E.PinBlocked()) == -52
    assert E.error_code(E.CardError(0x6A82)) == -27266
    assert E.error_code(E.CardError(0x9303)) == -37635
    assert E.error_code(E.AuthenticationFailed(0x63C0)) == -25536
    assert E.error_code(E.AuthenticationFailed()) == -21
    assert E.error_code(E.PsamLacksAlgorithm("x")) == -2202
    assert E.error_code(E.PsamLacksReadKey("x")) == -2203
    assert E.error_code(E.NoPsam("x")) == -2201
    assert E.error_code(E.NoCard("x")) == -2
    assert E.error_code(E.WrongCard("x")) == -1
    assert [E.error_code(e) for e in (E.PinEntryCancelled(), E.PinEntryTimeout(), E.PinLengthError(),
                                      E.PinMismatch(), E.InitialPinRefused(), E.IllegalCharacters(),
                                      E.DataLengthError(), E.IllegalInput(), E.CardInfoFormat(),
                                      E.CardInfoMismatch(), E.HsmMismatch(), E.NotSupported(),
                                      E.BadParameter())] == \
        [-31, -32, -33, -34, -36, -41, -42, -23, -20, -22, -25, -13, -14]
