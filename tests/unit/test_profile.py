"""The declarative profile: every record schema's test vector holds both ways, as (encoded bytes, decoded value)
pairs in the manner of pySim's EF test vectors (docs/peers.md), plus the encodings real cards hold that the decoder
reads (docs/design.md §3 "Encodings seen on real cards")."""
from __future__ import annotations

import pytest

from protocols.profile import (
    GEN1,
    GEN2,
    GEN3,
    PROFILES,
    PSAM_KEYS,
    Item,
    PsamAddress,
    RecordFile,
    normalise_version,
    profile,
)

H = bytes.fromhex
ITEMS = [(p.name, df.name, f.name, it) for p in PROFILES.values() for df in p.dfs for f in df.files
         if isinstance(f, RecordFile) for it in f.items]


@pytest.mark.parametrize("prof, df, ef, item", ITEMS, ids=[f"{p}-{d}-{e}-{i.name}" for p, d, e, i in ITEMS])
def test_every_item_vector_holds_both_ways(prof: str, df: str, ef: str, item: Item) -> None:
    raw = H(item.example_bytes)
    assert len(raw) == item.length
    assert item.encode_value(item.example) == raw
    assert item.decode_value(raw) == item.example
    rec = item.encode_record(item.example)
    assert rec == bytes((item.tag, item.length)) + raw


def _item(ef: str, name: str) -> Item:
    f = GEN2.ssse.ef(ef)
    assert isinstance(f, RecordFile)
    return f.item(name)


# --- what real cards hold (docs/design.md §3 "Encodings seen on real cards") --------------------------------------
#: (EF, item, value field as a real card holds it, the value the host reads)
REAL_CARD_VALUES = [
    ("EF05", "issue_date", "32303132", "2012"),                       # an early card: the ASCII year only
    ("EF05", "expiry_date", "32303232", "2022"),
    ("EF05", "issue_date", "FFFFFFFF", ""),                           # never set: all FF
    ("EF06", "birth_date", "FFFFFFFF", ""),
    ("EF05", "card_number", "FF" * 9, ""),
    ("EF06", "name", "FF" * 30, ""),
    ("EF06", "name_ext", "FF" * 20, ""),
    ("EF06", "ethnicity", "FF", ""),
    ("EF0D", "first_region", "FFFFFF", ""),
    ("EF06", "name", "D5C5C8FD" + "20" * 26, "张三"),                  # gen1: GBK padded with 20
    ("EF06", "name", "D5C5C8FD20D0A1C3F7" + "20" * 21, "张三 小明"),    # an inner space stays
    ("EF05", "card_number", "413132333435363738", "A12345678"),
    ("EF05", "spec_version", "322E3000", "2.0"),                      # gen2: "2.0\0", shown as "2.00"
    ("EF05", "spec_version", "332E3030", "3.00"),
    ("EF05", "spec_version", "312E3030", "1.00"),
]


@pytest.mark.parametrize(("ef", "name", "raw", "value"), REAL_CARD_VALUES,
                         ids=[f"{ef}-{name}-{raw[:12]}" for ef, name, raw, _ in REAL_CARD_VALUES])
def test_real_card_encodings_decode(ef: str, name: str, raw: str, value: str) -> None:
    assert _item(ef, name).decode_value(H(raw)) == value


def test_gen1_names_encode_and_decode_padded_with_20() -> None:
    name = _item("EF06", "name")
    raw = H("D5C5C8FD" + "20" * 26)
    assert name.encode_value("张三", GEN1.text_pad) == raw
    assert name.decode_value(raw) == "张三"
    assert name.encode_record("张三", GEN1.text_pad) == H("091E") + raw


def test_gen2_version_bytes_both_ways() -> None:
    """gen2 cards hold "2.0" ‖ 00 (32 2E 30 00); terminals show "2.00" (docs/design.md §3 profiles)."""
    version = _item("EF05", "spec_version")
    assert version.encode_value(GEN2.card_version) == H("322E3000")
    assert normalise_version(version.decode_value(H("322E3000"))) == GEN2.version == "2.00"
    assert version.encode_value(GEN3.card_version) == H("332E3030")
    assert normalise_version(version.decode_value(H("332E3030"))) == GEN3.version


def test_known_vectors_from_the_notes() -> None:
    ef05 = GEN2.ssse.ef("EF05")
    assert isinstance(ef05, RecordFile)
    assert ef05.item("spec_version").encode_record("3.00").hex().upper() == "030433 2E3030".replace(" ", "")
    assert ef05.item(0x07).encode_record("A12345678")[:2] == b"\x07\x09"
    ef06 = GEN2.ssse.ef("EF06")
    assert isinstance(ef06, RecordFile)
    assert [it.tag for it in ef06.items] == [0x08, 0x09, 0x4E, 0x0A, 0x0B, 0x0C, 0x0D]   # docs/sources.md §2.2 (EF06)


def test_profiles_differ_where_design_says() -> None:
    assert GEN2.ssse.ef("EF06").read.cond.value == "free"
    assert str(GEN3.ssse.ef("EF06").read) == "key(0A)"
    assert GEN3.pin_admin_key == GEN2.pin_admin_key == GEN1.pin_admin_key == 0x06
    assert GEN3.fci_alg and not GEN2.fci_alg and not GEN1.fci_alg
    assert GEN2.card_version == "2.0" and GEN2.version == "2.00" and GEN1.text_pad == 0x20
    gen1_ef06 = GEN1.ssse.ef("EF06")
    assert isinstance(gen1_ef06, RecordFile)
    assert [it.tag for it in gen1_ef06.items] == [0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D]
    assert not GEN1.strict_le and GEN2.strict_le


def test_psam_addresses_as_production_terminals_send_them() -> None:
    """BF DE P1 P2 of a7082633/HDOS_VC6 WAPP.CPP (UK 48 12, key 06 48 10, STK 48 09) and IRK 67 08, RK 47 0A."""
    ssse = GEN2.ssse
    assert {k.name: str(k.psam) for k in ssse.keys if k.name in ("UK", "RLK", "STK", "IRK", "RK")} == {
        "UK": "48 12", "RLK": "48 10", "STK": "48 09", "IRK": "67 08", "RK": "47 0A"}
    rk1 = GEN2.df("DF01").key_by_id(0x88)
    assert rk1 is not None and rk1.psam == PsamAddress(0x67, 0x2E)
    assert len({k.psam for k in PSAM_KEYS}) == len(PSAM_KEYS)
    assert normalise_version("2.0") == "2.00" and normalise_version("3.00") == "3.00"


def test_each_df_has_its_own_keys() -> None:
    names = [k.name for d in GEN2.dfs for k in d.keys]
    assert len(names) == len(set(names))
    assert GEN2.ssse.aid.hex().upper() == "7378312E73682EC9E7BBE1B1A3D5CF"


def test_find_file_understands_interface_names() -> None:
    for name in ("SSSEEF05", "3F00EF05", "MFEF05", "SSSE/EF05"):
        assert GEN2.find_file(name)[1].fid == 0xEF05
    assert GEN2.find_file("DF04EF05")[0].name == "DF04"
    with pytest.raises(KeyError):
        GEN2.find_file("DF09EF05")
    with pytest.raises(ValueError, match="unknown card profile"):
        profile("gen9")


# --- DF01–DF03, DF05–DF07 (docs/sources.md §2.3) --------------------------------------------------------------------
def _file(path: str) -> RecordFile:
    ef = GEN2.find_file(path)[1]
    assert isinstance(ef, RecordFile)
    return ef


#: (file, tags in record order, record sizes) as [WAPP] and the DLL's file-type table [S40] give them.
LAYOUTS = [
    ("DF01EF05", "20 21 0E", (2, 80, 3)),
    ("DF01EF06", "23 24 28 2C 2D", (80, 3, 15, 50, 15)),
    ("DF01EF15", "2A 40 40 40", (1, 52, 52, 52)),
    ("DF02EF05", "42 41 43 43 44 44", (3, 3, 108, 108, 101, 101)),
    ("DF02EF06", "4C 4B 4D 60 4F 50 3A", (4, 5, 3, 4, 6, 3, 7)),
    ("DF02EF09", "55 56 96 97", (16, 70, 4, 3)),
    ("DF02EF15", "99 99 99 99 0F 1F", (16, 16, 16, 16, 4, 3)),
    ("DF03EF05", "61 60 98 62 63 64 65 66", (3, 4, 4, 4, 3, 3, 3, 3)),
    ("DF03EF06", "45 46 47 48 49 67 6B 4A 4A 4A", (20, 2, 2, 1, 1, 4, 60, 97, 97, 97)),
    ("DF03EF07", "70 71 6E 6C 6F 73", (3, 3, 4, 4, 4, 4)),
    ("DF03EF19", "79 79 79 79", (39, 39, 39, 39)),
    ("DF07EF05", "F0 F1 F2 F3 F4", (2, 1, 4, 3, 4)),
    ("DF07EF06", "F5 F6 F7", (3, 4, 70)),
    ("DF07EF07", "F8 F9", (4, 1)),
]


@pytest.mark.parametrize("path, tags, sizes", LAYOUTS, ids=[p for p, _, _ in LAYOUTS])
def test_layouts_of_the_sources(path: str, tags: str, sizes: tuple[int, ...]) -> None:
    ef = _file(path)
    assert " ".join(f"{it.tag:02X}" for it in ef.items) == tags
    assert tuple(it.length for it in ef.items) == sizes


def test_cyclic_layouts_and_reserved_files() -> None:
    assert _file("DF02EF07").record_size == 0x55 and _file("DF02EF07").cyclic_records == 4      # WAPP 0x55
    assert _file("DF02EF16").record_size == 0x12 and _file("DF02EF16").cyclic_records == 4      # WAPP 0x12
    for fid in ("EF16", "EF17", "EF18", "EF19", "EF1A"):
        ef = GEN2.df("DF01").ef(fid)
        assert ef.size == 0x128 and ef.read.cond.value == "free"   # type: ignore[union-attr]  # binary files
    assert [d.aid.hex().upper() for d in GEN2.dfs[5:]] == ["D15600000504", "D15600000505", "D15600000506"]


def test_template_sub_items_both_ways() -> None:
    item = _file("DF03EF19").occurrence(0x79, 1)
    raw = item.encode_value("123,440100,20150701,20250630,12345,110,20150701,")
    assert raw.hex().upper() == ("1803313233" "1903440100" "1A0420150701" "1B0420250630" "1C0412345FFF" "1D03313130"
                                 "1E0420150701")
    assert item.decode_value(raw) == "123,440100,20150701,20250630,12345,110,20150701,"
    assert item.encode_value("123,440100,20150701,20250630,12345,110,20150701") == raw   # the last ',' optional
    assert item.decode_value(item.encode_value("")) == ""                               # every sub-item empty
    assert item.decode_value(b"\xFF" * 39) == ""                                        # never written


@pytest.mark.parametrize("raw, words", [
    ("1903313233" + "00" * 34, "sub-item 1 is not 18 03"),
    ("1804313233" + "00" * 34, "sub-item 1 is not 18 03"),
    ("1803313233" "1903440100" "1A0420150701" "1B0420250630" "1C0412345FFF" "1D03313130" "1E03201507" "01",
     "sub-item 7 is not 1E 04"),
])
def test_a_template_record_without_its_sub_items_does_not_decode(raw: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        _file("DF03EF19").items[0].decode_value(H(raw))


def test_records_of_a_repeated_tag_are_addressed_tag_nn() -> None:
    ef = _file("DF02EF15")
    assert [ef.address(it) for it in ef.items] == ["99:01", "99:02", "99:03", "99:04", "0F", "1F"]
    assert ef.lookup("99:03") is ef.items[2] and ef.lookup("99") is ef.items[0] and ef.lookup("0f") is ef.items[4]
    assert ef.lookup("df02ef15_99_2") is ef.items[1]
    with pytest.raises(KeyError):
        ef.lookup("99:05")
    assert _file("DF03EF19").address(_file("DF03EF19").items[0]) == "79:01"
    layout = _file("DF02EF07").layout
    assert layout is not None and layout.decode_value(layout.encode_value("环卫,20130630,20130630,南京,")) == \
        "环卫,20130630,20130630,南京,"
