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
