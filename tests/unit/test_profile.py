"""The declarative profile: every record schema's test vector round-trips."""
from __future__ import annotations

import pytest

from protocols.profile import GEN1, GEN2, GEN3, PROFILES, PSAM_KEYS, PsamAddress, RecordFile, normalise_version, profile

ITEMS = [(p.name, df.name, f.name, it) for p in PROFILES.values() for df in p.dfs for f in df.files
         if isinstance(f, RecordFile) for it in f.items]


@pytest.mark.parametrize("prof, df, ef, item", ITEMS, ids=[f"{p}-{d}-{e}-{i.name}" for p, d, e, i in ITEMS])
def test_every_item_vector_round_trips(prof: str, df: str, ef: str, item) -> None:  # type: ignore[no-untyped-def]
    rec = item.encode_record(item.example)
    assert rec[0] == item.tag and rec[1] == item.length and len(rec) == item.length + 2
    assert item.decode_value(rec[2:]) == item.example


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
    assert [it.tag for it in GEN1.ssse.ef("EF06").items] == [0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D]
    assert not GEN1.strict_le and GEN2.strict_le


def test_psam_addresses_as_production_terminals_send_them() -> None:
    """BF DE P1 P2 of a7082633/HDOS_VC6 WAPP.CPP (UK 48 12, key 06 48 10, STK 48 09) and IRK 67 08, RK 47 0A."""
    ssse = GEN2.ssse
    assert {k.name: str(k.psam) for k in ssse.keys if k.name in ("UK", "RLK", "STK", "IRK", "RK")} == {
        "UK": "48 12", "RLK": "48 10", "STK": "48 09", "IRK": "67 08", "RK": "47 0A"}
    assert GEN2.df("DF01").key_by_id(0x88).psam == PsamAddress(0x67, 0x2E)
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
