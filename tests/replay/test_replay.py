"""Production sequences and a real card's answers, replayed on the emulated card and PSAM (``sim``).

The same sequences run over PC/SC and serial in tests/conformance/test_replay_paths.py. Each sequence
cites its source in tests/replay/sequences.py; the cards hold invented holder data.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_psam
from firmware_sim.device import DeviceWrapper
from firmware_sim.image import atomic_write, dumps, load_card
from firmware_sim.issuance.personalise import new_card
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from host.terminal import Terminal
from protocols.tlv import simple_decode

from tests.replay import sequences as seq
from tests.support.cardkit import PERSON

def _replay(tmp_path: Path, profile: str = "gen2", image: dict | None = None,
            region: str = "440100") -> tuple[seq.Replay, Path]:
    """A card (a fresh one of ``profile`` and ``region``, or ``image``) and its region's PSAM, powered."""
    path = tmp_path / "card.json"
    serial = 0x5A18 if profile == "gen3" else 0x5A17
    doc = image or new_card(PERSON, profile=profile, region=region, serial=serial).to_json()
    atomic_write(path, dumps(doc))
    card = InProcessReader(CardOS.from_file(path))
    psam = InProcessReader(PsamOS(demo_psam(region)))
    r = seq.Replay(card, psam, atr=card.connect())
    psam.connect()
    return r, path


def test_wapp_pin_unlock_resets_the_counter_without_a_pin(tmp_path: Path) -> None:
    r, path = _replay(tmp_path)
    r.c(seq.SSSE, "61xx")
    for _ in range(3):
        r.c("0020000003000000", "63xx", "6983")
    assert load_card(path).pin_tries_left == 0
    seq.per_pin_unlock(r)
    img = load_card(path)
    assert img.pin_tries_left == 3 and img.pin == "123456"
    r.c("0020000003123456")


def test_wapp_reset_password_reloads_the_pin(tmp_path: Path) -> None:
    r, path = _replay(tmp_path)
    seq.reset_password(r, "654321")
    assert load_card(path).pin == "654321"
    r.c("0020000003654321")


def test_wapp_pin_change_needs_no_verify(tmp_path: Path) -> None:
    r, path = _replay(tmp_path)
    seq.per_pin_change(r, "123456", "246810")
    assert load_card(path).pin == "246810"
    with pytest.raises(seq.ReplayError, match="63C2"):
        seq.per_pin_change(r, "123456", "111111")


def test_wapp_external_authentication_unlocks_ssse_writes(tmp_path: Path) -> None:
    """[WAPP] UKSSSE: ``BF DE 48 12`` two levels, key 04, then a plain ``00 DC`` of EF06's name record."""
    r, path = _replay(tmp_path)
    region = seq.read_region(r)
    r.c("00A4000002EF06")
    name = "王测试".encode("gbk").ljust(30, b"\0").hex().upper()
    r.c(f"00DC020420091E{name}", "6982")
    seq.exter_authen(r, "4812", "04", region, 2)
    r.c(f"00DC020420091E{name}")
    assert load_card(path).dfs["SSSE"].records[0xEF06][1][2:].rstrip(b"\0").decode("gbk") == "王测试"


def test_internal_authentication_with_the_process_factor_first(tmp_path: Path) -> None:
    r, _ = _replay(tmp_path)
    card_answer, psam_answer = seq.internal_auth_process_factor_first(r, "1122334455667788", "0102030405060708")
    assert card_answer == psam_answer and len(card_answer) == 8


def test_county_dll_reads_ssse_df03_and_the_psam_files(tmp_path: Path) -> None:
    r, _ = _replay(tmp_path)
    out = seq.county_reads(r, "123456")
    assert out["card_type"] == bytes.fromhex("020133")
    assert out["card_id"][:2] == bytes.fromhex("0110") and out["card_number"][:2] == bytes.fromhex("0709")
    assert out["ssn"][2:].decode() == PERSON["ssn"]
    assert out["name"][2:].rstrip(b"\0").decode("gbk") == PERSON["name"]
    assert out["ef19"][:2] == bytes.fromhex("7927") and len(out["ef19"]) == 41
    assert len(out["psam_public"]) == 15 and out["terminal"] == bytes.fromhex("440100000001")


def test_county_dll_df03_ef19_needs_the_pin(tmp_path: Path) -> None:
    r, _ = _replay(tmp_path)
    r.c(seq.SSSE, "61xx")
    r.c("00A4010002DF03", "61xx")
    r.c("00A4000002EF19")
    r.c("00B2790029", "6982")


def _loudi_shaped_image() -> dict:
    """A gen2 card whose EF05 has the shapes of [T-LOUDI]'s real card: version "2.0\\0", card type "3",
    ASCII years as dates. The region, serial and card number are invented."""
    doc = new_card(PERSON, profile="gen2", region="430200", serial=0x133A).to_json()
    records = doc["dfs"]["SSSE"]["files"]["EF05"]["records"]
    records[4] = {"hex": "0504" + b"2012".hex().upper()}
    records[5] = {"hex": "0604" + b"2022".hex().upper()}
    records[6] = {"hex": "0709" + b"B00000131".hex().upper()}
    return json.loads(json.dumps(doc))


def test_loudi_card_answers_all_of_ef05_to_one_read_record(tmp_path: Path) -> None:
    r, _ = _replay(tmp_path, image=_loudi_shaped_image())
    data = seq.loudi_read_all(r)
    tlvs = dict(simple_decode(data))
    assert [t for t, _ in simple_decode(data)] == [1, 2, 3, 4, 5, 6, 7]
    assert tlvs[3] == bytes.fromhex("322E3000") and tlvs[5] == b"2012" and len(data) == 64


def test_the_host_reads_the_loudi_shaped_card(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    atomic_write(path, dumps(_loudi_shaped_image()))
    term = Terminal(InProcessReader(CardOS.from_file(path)), InProcessReader(PsamOS(demo_psam("440100"))))
    info = term.read_basic_info()
    assert (info.spec_version, info.issue_date, info.expiry_date, info.card_number) == ("2.00", "2012", "2022",
                                                                                          "B00000131")
    assert info.authenticated and info.region == "430200"


def test_fci_forms_of_the_generations(tmp_path: Path) -> None:
    """[T-LOUDI] gen2: ``6F 16 84 0F <name> A5 03 88 01 1E``; gen3 adds ``9F 0C 03 86 01 03``."""
    r, _ = _replay(tmp_path)
    assert r.c(seq.SSSE + "00").hex().upper() == "6F16840F7378312E73682EC9E7BBE1B1A3D5CFA50388011E"
    r3, _ = _replay(tmp_path, "gen3")
    assert r3.c(seq.SSSE, "61xx") == b"" and r3.log[-1][2] == "611E"
    assert r3.c("00C000001E").hex().upper().endswith("A50988011E9F0C03860103")


def test_ten_unblocks_without_key_06_change_nothing(tmp_path: Path) -> None:
    r, path = _replay(tmp_path)
    r.c(seq.SSSE, "61xx")
    for _ in range(2):
        r.c("0020000003000000", "63xx")
    before = path.read_bytes()
    answers = set()
    for i in range(10):
        r.c(seq.SSSE, "61xx")
        r.c("0084000008")
        answers.add(r._send("card", r.card, f"8424000004{i:08X}", ("6982",)))
    assert path.read_bytes() == before and answers == {b""}


def _gen3_replay(tmp_path: Path) -> tuple[seq.Replay, Path]:
    """A Shenzhen gen3 card and the Shenzhen PSAM (SM4 application), powered."""
    return _replay(tmp_path, "gen3", region="440300")


def test_si3_gen3_card_read_with_challenges_as_data(tmp_path: Path) -> None:
    r, path = _gen3_replay(tmp_path)
    out = seq.si3_gen3_read(r, "440300")
    assert out["ia_card"] == out["ia_psam"]
    assert out["version"] == bytes.fromhex("0304332E3030")
    assert out["ssn"][2:].decode() == PERSON["ssn"] and out["name_ext"][:2] == bytes.fromhex("4E14")


def test_si3_external_authentication_needs_the_last_challenge(tmp_path: Path) -> None:
    """The cryptogram is bound to the card's last challenge: one more GET CHALLENGE in between makes it fail."""
    r, path = _gen3_replay(tmp_path)
    r.c(seq.SSSE, "61xx")
    r3, r4 = r.c("0084000008").hex().upper(), r.c("0084000008").hex().upper()
    r.p("00A4000002DF02")
    r.p(f"BFDE470A18{seq.card_factor_hex(r.atr)}{seq.city_hex('440300')}{r4}")
    r.p(f"80FA000010{r3}{'00' * 8}", "61xx")
    block = r.p("00C0000010")
    cryptogram = bytes(a ^ b for a, b in zip(block[:8], block[8:])).hex().upper()
    r.c("0084000008")
    r.c(f"0082000A10{cryptogram}{r3}", "63C2")
    assert load_card(path).dfs["SSSE"].keys[0x0A].tries_left == 2


class _NoReadAll(DeviceWrapper):
    """Fault injection: a card OS that does not know READ RECORD P2 mode 101 (answers 6A86), as some do."""

    def __init__(self, inner: CardOS) -> None:
        super().__init__(inner)
        self.seen: list[bytes] = []

    def process(self, apdu: bytes) -> bytes:
        self.seen.append(apdu)
        if apdu[1:2] == b"\xB2" and len(apdu) >= 4 and apdu[3] & 0x07 == 0x05:
            return b"\x6A\x86"
        return self.device.process(apdu)


def test_reading_falls_back_to_one_record_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    atomic_write(path, dumps(new_card(PERSON, profile="gen2", region="440100", serial=0x5A17).to_json()))
    device = _NoReadAll(CardOS.from_file(path))
    term = Terminal(InProcessReader(device), InProcessReader(PsamOS(demo_psam("440100"))))
    info = term.read_basic_info()
    assert info.name == PERSON["name"] and info.card_number == PERSON["card_number"] and info.authenticated
    by_tag = [a for a in device.seen if a[1] == 0xB2 and a[3] & 0x07 == 0x00]
    assert len(by_tag) == 14                        # 7 items of EF05 and 7 of EF06, each read by its tag


def test_atr_carries_the_region_and_the_card_id_serial(tmp_path: Path) -> None:
    """[T-LOUDI] the real card's ATR ``3B 6D 00 00 00 81 … 86 50 43 02 00 00 00 13``: 86, a maker byte,
    the region's first 4 digits in BCD, and the first 4 serial bytes of its card ID ``430299 D156000005
    00000013 …``; an emulated card of region 430200 has the same shape."""
    img = new_card(PERSON, profile="gen2", region="430200", serial=0x13)
    hist = img.atr[4:]
    card_id = bytes.fromhex(img.dfs["SSSE"].records[0xEF05][0][2:].hex())
    assert img.atr[:4] == bytes.fromhex("3B6D0000") and len(hist) == 13 and hist[5] == 0x86
    assert hist[7:9] == bytes.fromhex("4302") and hist[-4:] == card_id[8:12] == bytes.fromhex("00000013")
