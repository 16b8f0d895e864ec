"""The files of DF01–DF03 and DF05–DF07 (docs/sources.md §2.3) on the card: each one's read and update condition
holds (6982 without the key or PIN it needs, and with another key of its DF), and a B-TLV template record keeps its
sub-items (6A80 for one that would lose them)."""
from __future__ import annotations

import pytest

from protocols.profile import GEN2, BinaryFile, Cond, DFSpec, EF, KeyUse, RecordFile

from tests.card.authn import external_auth
from tests.card.conftest import Card

NEW_DFS = ("DF01", "DF02", "DF03", "DF05", "DF06", "DF07")
FILES = [(df.name, ef.name) for df in GEN2.dfs if df.name in NEW_DFS for ef in df.files]
VERIFY = "0020000003123456"


def _select(card: Card, df: DFSpec) -> None:
    assert card.sw(f"00A40400{len(df.aid):02X}{df.aid.hex()}") & 0xFF00 in (0x9000, 0x6100)


def _read(card: Card, ef: EF) -> int:
    if isinstance(ef, BinaryFile):
        return card.sw(f"00B0{0x80 | ef.sfi:02X}0010")
    return card.sw(f"00B201{ef.sfi << 3 | 4:02X}00")


def _write(card: Card, df: DFSpec, ef: EF) -> int:
    """The file's first record (or first bytes) written back as they are, or a new record of a cyclic file."""
    if isinstance(ef, BinaryFile):
        return card.sw(f"00D6{0x80 | ef.sfi:02X}00020000")
    if ef.cyclic_records:
        return card.raw(bytes((0x00, 0xE2, 0x00, ef.sfi << 3, ef.record_size)) + bytes(ef.record_size))[1]
    record = card.os.image.dfs[df.name].records[ef.fid][0]
    return card.raw(bytes((0x00, 0xDC, 0x01, ef.sfi << 3 | 4, len(record))) + record)[1]


def _other_key(df: DFSpec, key_id: int | None) -> tuple[str, int] | None:
    return next(((k.name, k.key_id) for k in df.keys if k.use is KeyUse.EXTERNAL and k.key_id != key_id), None)


@pytest.mark.parametrize("df_name, ef_name", FILES)
def test_read_condition(card2: Card, df_name: str, ef_name: str) -> None:
    df = card2.os.profile.df(df_name)
    ef = df.ef(ef_name)
    ok = (0x9000, 0x6A83) if isinstance(ef, RecordFile) and ef.cyclic_records else (0x9000,)   # may be empty
    _select(card2, df)
    if ef.read.cond is Cond.FREE:
        assert _read(card2, ef) in ok
        return
    assert _read(card2, ef) == 0x6982
    other = _other_key(df, ef.read.key_id)
    if other is not None:
        assert external_auth(card2, other[0], other[1], df=df.name) == 0x9000
        assert _read(card2, ef) == 0x6982                       # another key of the DF does not open it
    if ef.read.cond is Cond.PIN:
        assert card2.sw(VERIFY) == 0x9000
    else:
        key = df.key_by_id(ef.read.key_id or 0, KeyUse.EXTERNAL)
        assert key is not None and external_auth(card2, key.name, key.key_id, df=df.name) == 0x9000
    assert _read(card2, ef) in ok


@pytest.mark.parametrize("df_name, ef_name", FILES)
def test_update_condition(card2: Card, df_name: str, ef_name: str) -> None:
    df = card2.os.profile.df(df_name)
    ef = df.ef(ef_name)
    assert ef.update.cond is Cond.KEY                            # every file here is written after its key
    _select(card2, df)
    assert _write(card2, df, ef) == 0x6982
    assert card2.sw(VERIFY) == 0x9000
    assert _write(card2, df, ef) == 0x6982                       # the PIN does not open it
    other = _other_key(df, ef.update.key_id)
    assert other is not None
    assert external_auth(card2, other[0], other[1], df=df.name) == 0x9000
    assert _write(card2, df, ef) == 0x6982
    key = df.key_by_id(ef.update.key_id or 0, KeyUse.EXTERNAL)
    assert key is not None and external_auth(card2, key.name, key.key_id, df=df.name) == 0x9000
    assert _write(card2, df, ef) == 0x9000


def test_a_wrong_key_is_counted(card2: Card) -> None:
    df = card2.os.profile.df("DF07")
    _select(card2, df)
    assert external_auth(card2, "DF07.RK2", 0x89, df="DF07", tamper=True) == 0x63C2
    assert card2.os.image.dfs["DF07"].keys[0x89].tries_left == 2


# --- B-TLV templates ------------------------------------------------------------------------------------------
def _df03_ef19(card: Card) -> tuple[DFSpec, RecordFile]:
    df = card.os.profile.df("DF03")
    ef = df.ef("EF19")
    assert isinstance(ef, RecordFile)
    _select(card, df)
    assert external_auth(card, "DF03.UK8", 0x8D, df="DF03") == 0x9000
    return df, ef


@pytest.mark.parametrize("value, sw", [
    ("", 0x9000),                                                        # the template's sub-items, empty
    ("123,440100,20150701,20250630,12345,110,20150701,", 0x9000),
])
def test_a_template_record_with_its_sub_items_is_written(card2: Card, value: str, sw: int) -> None:
    _, ef = _df03_ef19(card2)
    record = ef.items[1].encode_record(value)
    assert card2.raw(bytes((0x00, 0xDC, 0x02, 0xCC, len(record))) + record)[1] == sw
    assert card2.os.image.dfs["DF03"].records[0xEF19][1] == record


def _malformed() -> list[bytes]:
    ef = GEN2.df("DF03").ef("EF19")
    assert isinstance(ef, RecordFile)
    good = ef.items[1].encode_record("123,440100,20150701,20250630,12345,110,20150701,")
    return [
        good[:2] + b"\x19" + good[3:],                                   # sub-item 1 tagged 19, not 18
        good[:3] + b"\x04" + good[4:],                                   # sub-item 1's length 4, not 3
        good[:2] + good[7:] + bytes(5),                                  # sub-item 18 missing
        good[:2] + bytes(range(1, 40)),                                  # no sub-items at all
    ]


@pytest.mark.parametrize("record", _malformed(), ids=["tag", "length", "missing", "garbage"])
def test_a_template_record_that_loses_its_sub_items_is_refused(card2: Card, record: bytes) -> None:
    _, ef = _df03_ef19(card2)
    before = card2.os.image.dfs["DF03"].records[0xEF19][1]
    assert len(record) == len(before) and record[:2] == before[:2]
    assert card2.raw(bytes((0x00, 0xDC, 0x02, 0xCC, len(record))) + record)[1] == 0x6A80
    assert card2.os.image.dfs["DF03"].records[0xEF19][1] == before


def test_an_unset_template_record_may_be_written_all_ff(card2: Card) -> None:
    _df03_ef19(card2)
    record = b"\x79\x27" + b"\xFF" * 0x27
    assert card2.raw(bytes((0x00, 0xDC, 0x03, 0xCC, len(record))) + record)[1] == 0x9000


def test_template_records_by_number_and_by_tag(card2: Card) -> None:
    """The four records of template 79: READ RECORD by tag (P2 mode 000) finds the first, by number each one."""
    df = card2.os.profile.df("DF03")
    _select(card2, df)
    assert card2.sw(VERIFY) == 0x9000
    first, sw = card2("00B279C800")
    assert sw == 0x9000 and first[:2] == b"\x79\x27" and first[2:4] == b"\x18\x03"
    for n in range(1, 5):
        rec, sw = card2(f"00B2{n:02X}CC00")
        assert sw == 0x9000 and rec[:2] == b"\x79\x27"
    assert card2.sw("00B205CC00") == 0x6A83
