"""Batch issuance: good and bad rows, line numbers, the images it writes, the CLI."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from firmware_sim.issuance.batch import (BatchConfig, BatchInputError, Row, fast_dumps, parse_people, read_people,
                                run_batch, serial_for)
from firmware_sim.card_os import CardOS
from firmware_sim.demo import DEMO_DIR
from firmware_sim.image import dumps, load_card
from firmware_sim.issuance.personalise import card_id_code
from host.cli import main
from host.spec import open_terminal
from protocols.crypto import Alg
from protocols.keys import KEY_NAMES, IssuerKeys, test_issuer_keys

HEADER = "name,ssn,card_number,region,profile,issue_date,expiry_date,photo\n"
GOOD = [
    "张三,440106199001011235,A00000001,,,20240301,20340301,",
    "李四,44030419920721452X,A00000002,440300,gen3,,,",
    "欧阳振华,440604197011083051,A00000003,440600,,,,photo.jpg",
]


def write_csv(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "photo.jpg").write_bytes((DEMO_DIR / "photo-1.jpg").read_bytes())
    return path


def issue(path: Path, out: Path, **kw: object):
    return run_batch(read_people(path), BatchConfig(out, photo_dir=path.parent, **kw))  # type: ignore[arg-type]  # kw holds BatchConfig's fields


def ef05(card, name: str) -> bytes:
    ef = card.profile.ssse.ef("EF05")
    index = [it.name for it in ef.items].index(name)
    return card.dfs["SSSE"].records[ef.fid][index]


def test_good_rows_make_images_that_load_with_correct_card_id_macs(tmp_path: Path) -> None:
    result = issue(write_csv(tmp_path, GOOD), tmp_path / "out")
    assert result.ok and result.issued == 3 and result.rows == 3
    for n, (region, profile) in enumerate([("440100", "gen2"), ("440300", "gen3"), ("440600", "gen2")], 1):
        card = load_card(tmp_path / "out" / f"A0000000{n}.json")
        assert (card.region, card.profile.name) == (region, profile)
        issuer = test_issuer_keys(card.profile.alg)
        irk = issuer.card_keys(region, card.atr)["IRK"]
        assert ef05(card, "card_id")[2:] == card_id_code(card.profile.alg, irk, region, card.atr)
        # every key of every DF is the root key diversified for this city and this card
        derived = issuer.card_keys(region, card.atr)
        for spec in card.profile.dfs:
            for ks in spec.keys:
                assert card.dfs[spec.name].keys[ks.key_id].value == derived[ks.name]
    photo = load_card(tmp_path / "out" / "A00000003.json").dfs["SSSE"].binaries[0xEF08]
    assert bytes(photo).startswith((DEMO_DIR / "photo-1.jpg").read_bytes())


def test_images_are_the_canonical_text(tmp_path: Path) -> None:
    issue(write_csv(tmp_path, GOOD[:1]), tmp_path / "out")
    path = tmp_path / "out" / "A00000001.json"
    assert path.read_text(encoding="utf-8") == dumps(load_card(path).to_json())


def test_keys_are_distinct_across_cards(tmp_path: Path) -> None:
    rows = [f"人{i},440106199001011235,K{i:08d},,,,," for i in range(40)]
    result = issue(write_csv(tmp_path, rows), tmp_path / "out")
    assert result.issued == 40
    seen: set[bytes] = set()
    atrs: set[bytes] = set()
    for path in (tmp_path / "out").glob("*.json"):
        card = load_card(path)
        atrs.add(card.atr)
        values = [k.value for st_ in card.dfs.values() for k in st_.keys.values()]
        mine = set(values)
        assert not (mine & seen), f"{path.name} shares a key with another card"
        seen |= mine
    assert len(atrs) == 40


BAD = [
    ("王五,12345,A00000010,,,,,", "ssn"),                                # line numbers fixed below
    ("赵六,440106199001011235,a0000001,,,,,", "card_number"),
    ("钱七,440106199013011234,A00000011,,,,,", "not a real birth date"),  # 13th month in the SSN
    ("孙八,440106199001011235,A00000012,44010,,,,", "region"),
    ("周九,440106199001011235,A00000013,,gen9,,,", "profile"),
    ("吴十,440106199001011235,A00000001,,,,,", "repeats line 2"),      # duplicate card number
    ("郑一,440106199001011235,A00000014,,,20241301,,", "issue_date (发卡日期): not a real calendar date"),
    ("冯二,440106199001011235,A00000015,,,,,missing.jpg", "missing.jpg"),
    (",440106199001011235,A00000016,,,,,", "name is required"),
    ("陈三,440106199001011235,A00000017,,,,", "cells"),                # one cell short
    ("名字太长" * 10 + ",440106199001011235,A00000018,,,,,", "name"),  # does not fit 30 GBK bytes
]


def test_bad_rows_are_reported_with_line_numbers_and_do_not_stop_the_batch(tmp_path: Path) -> None:
    lines = [GOOD[0]]
    expect: dict[int, str] = {}
    for text, why in BAD:
        lines.append(text)
        expect[len(lines) + 1] = why            # +1: the header is line 1
    lines.append(GOOD[1])
    result = issue(write_csv(tmp_path, lines), tmp_path / "out")
    assert result.issued == 2 and not result.ok
    got = {e.line: e.message for e in result.errors}
    assert set(got) == set(expect)
    for line, why in expect.items():
        assert why in got[line], (line, got[line])
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == ["A00000001.json", "A00000002.json"]


def test_two_bad_card_numbers_are_each_reported_as_such(tmp_path: Path) -> None:
    rows = ["张三,440106199001011235,a1,,,,,", "李四,440106199001011235,b2,,,,,"]
    result = issue(write_csv(tmp_path, rows), tmp_path / "out")
    assert [(e.line, "card_number" in e.message) for e in result.errors] == [(2, True), (3, True)]


def test_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    text = HEADER + '"张\n三",440106199001011235,A00000001,,,,,\n\n王五,123,A00000002,,,,,\n'
    rows = list(parse_people(text.splitlines(keepends=True)))
    assert [r.line for r in rows] == [2, 5]


@pytest.mark.parametrize("header, why", [
    ("name,ssn\n", "card_number"),
    ("name,ssn,card_number,colour\n", "colour"),
    ("name,ssn,card_number,name\n", "twice"),
    ("", "empty"),
])
def test_unusable_csv(tmp_path: Path, header: str, why: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(header, encoding="utf-8")
    with pytest.raises(BatchInputError, match=why):
        read_people(path)


def test_serials_default_to_the_card_number_and_may_be_given(tmp_path: Path) -> None:
    assert serial_for("A00000001") != serial_for("A00000002")
    assert serial_for("ZZZZZZZZZ") < 1 << 32
    header = "name,ssn,card_number,serial\n"
    path = tmp_path / "p.csv"
    path.write_text(header + "张三,440106199001011235,A00000001,0x10\n李四,440106199001011235,A00000002,16\n"
                    "王五,440106199001011235,A00000003,\n", encoding="utf-8")
    result = run_batch(read_people(path), BatchConfig(tmp_path / "out"))
    assert [(e.line, "repeats line 2" in e.message) for e in result.errors] == [(3, True)]
    atr = load_card(tmp_path / "out" / "A00000001.json").atr
    assert atr.endswith(bytes.fromhex("4401") + (0x10).to_bytes(4, "big"))      # region, then the serial
    assert load_card(tmp_path / "out" / "A00000003.json").atr.endswith(
        serial_for("A00000003").to_bytes(4, "big"))


def test_rerun_and_workers_write_identical_images(tmp_path: Path) -> None:
    rows = [f"人{i},440106199001011235,W{i:08d},{'440300' if i % 3 else ''},{'gen3' if i % 2 else ''},,,"
            for i in range(600)]
    path = write_csv(tmp_path, rows)
    one = issue(path, tmp_path / "a")
    two = run_batch(read_people(path), BatchConfig(tmp_path / "b", photo_dir=tmp_path), workers=2)
    kept = issue(path, tmp_path / "a")                       # images already there are kept …
    assert kept.issued == 0 and len(kept.errors) == 600 and all(e.exists for e in kept.errors)
    again = issue(path, tmp_path / "a", force=True)          # … unless forced
    assert one.issued == two.issued == again.issued == 600
    for p in (tmp_path / "a").glob("*.json"):
        assert _without_pki_keys(p) == _without_pki_keys(tmp_path / "b" / p.name)
    assert not list((tmp_path / "a").glob(".*"))   # no temp files left behind


def _without_pki_keys(path: Path) -> dict:
    """An image as JSON, less what is random by nature: the PKI application's key pair (the card generates it) and
    its certificate (SM2 signatures are randomised); docs/design.md §3.4."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    for field in ("sign_public_key", "sign_private_key", "sign_certificate"):
        doc.get("apps", {}).get("pki", {}).pop(field, None)
    return doc


def test_progress_is_monotonic_and_ends_at_the_total(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    rows = [f"人{i},440106199001011235,P{i:08d},,,,," for i in range(30)] + ["x,1,2,,,,,"]
    run_batch(read_people(write_csv(tmp_path, rows)), BatchConfig(tmp_path / "o"),
              progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (31, 31)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_an_issued_card_passes_the_terminal_flow(tmp_path: Path) -> None:
    """Card keys and card ID agree with the PSAM's city keys: the counter reads and authenticates it."""
    issue(write_csv(tmp_path, GOOD), tmp_path / "out")
    for n, name in ((1, "张三"), (2, "李四")):
        term = open_terminal(f"sim:{tmp_path / 'out' / f'A0000000{n}.json'}")
        try:
            info = term.read_basic_info()
        finally:
            term.close()
        assert info.name == name and info.authenticated and info.card_number == f"A0000000{n}"


def test_card_os_accepts_an_issued_image(tmp_path: Path) -> None:
    issue(write_csv(tmp_path, GOOD[:1]), tmp_path / "out")
    card = CardOS.from_file(tmp_path / "out" / "A00000001.json")
    card.power_on()
    assert card.process(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF"))[-2] == 0x61  # FCI waits


# --- the command line -----------------------------------------------------------------------------------------
def test_cli_exit_codes_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_csv(tmp_path, GOOD)
    assert main(["card", "batch", str(good), "--out", str(tmp_path / "o1")]) == 0
    out, err = capsys.readouterr()
    assert "3 of 3 cards issued" in out and "3/3" in err
    bad = write_csv(tmp_path, [GOOD[0], "王五,12345,A00000009,,,,,"])
    assert main(["card", "batch", str(bad), "--out", str(tmp_path / "o2"), "-q"]) == 1
    out, err = capsys.readouterr()
    assert f"{bad}:3: A00000009: ssn" in err and "1 bad row" in out
    assert main(["card", "batch", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o3")]) == 2
    (tmp_path / "h.csv").write_text("name,ssn\n", encoding="utf-8")
    assert main(["card", "batch", str(tmp_path / "h.csv"), "--out", str(tmp_path / "o4")]) == 2


def test_cli_profile_and_region_defaults(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ["张三,440106199001011235,A00000001,,,,,"])
    assert main(["card", "batch", str(path), "--out", str(tmp_path / "o"), "--profile", "gen3",
                 "--region", "440300", "-q", "--workers", "2"]) == 0
    card = load_card(tmp_path / "o" / "A00000001.json")
    assert (card.profile.name, card.region) == ("gen3", "440300")


def test_cli_with_an_issuer_key_set(tmp_path: Path) -> None:
    keys = IssuerKeys("my issuer", Alg.SM4, {name: bytes([i]) * 16 for i, name in enumerate(KEY_NAMES)})
    (tmp_path / "keys.json").write_text(keys.to_json(), encoding="utf-8")
    path = write_csv(tmp_path, ["张三,440106199001011235,A00000001,,gen3,,,", "李四,440106199001011235,A00000002,,,,,"])
    assert main(["card", "batch", str(path), "--out", str(tmp_path / "o"), "-q",
                 "--issuer-keys", str(tmp_path / "keys.json")]) == 0
    sm4 = load_card(tmp_path / "o" / "A00000001.json")
    assert sm4.dfs["SSSE"].keys[0x01].value == keys.card_keys("440100", sm4.atr)["IRK"]
    des = load_card(tmp_path / "o" / "A00000002.json")            # no DES3 set given: the test set
    assert des.dfs["SSSE"].keys[0x01].value == test_issuer_keys(Alg.DES3).card_keys("440100", des.atr)["IRK"]


# --- the JSON formatter is json.dumps(indent=1) ----------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _json, max_size=5))
def test_fast_dumps_is_the_standard_text(doc: dict[str, Any]) -> None:
    assert fast_dumps(doc) == dumps(doc)


def test_fast_dumps_falls_back_for_other_types() -> None:
    doc: dict[Any, Any] = {"x": 1.5, "y": [1, (2, 3)], 1: "z"}
    assert fast_dumps(doc) == dumps(doc)
    assert json.loads(fast_dumps({"a": [{}, []]})) == {"a": [{}, []]}


def test_rows_with_unknown_profile_are_bad_not_fatal(tmp_path: Path) -> None:
    result = run_batch([Row(2, {"name": "x", "ssn": "440106199001011235", "card_number": "A00000001",
                                "profile": "gen9"})], BatchConfig(tmp_path / "o"))
    assert result.issued == 0 and "gen9" in result.errors[0].message


# --- the purse_balance column (as card new --purse-balance) ------------------------------------------------------
def test_purse_balance_column(tmp_path: Path) -> None:
    rows = ["张三,440106199001011235,A00000001,100.00", "李四,440106199001011235,A00000002,",
            "王五,440106199001011235,A00000003,12", "赵六,440106199001011235,A00000004,0.05"]
    result = issue(write_csv(tmp_path, rows, "name,ssn,card_number,purse-balance\n"), tmp_path / "out")
    assert result.ok and result.issued == 4
    balances = []
    for n in range(1, 5):
        purse = load_card(tmp_path / "out" / f"A0000000{n}.json").dfs["DF04"].purse
        assert purse is not None and purse.offline_counter == 0
        balances.append(purse.balance)
    assert balances == [10000, 0, 1200, 5]
    term = open_terminal(f"sim:{tmp_path / 'out' / 'A00000001.json'}")
    assert term.purse_balance("123456") == 10000                    # the card answers GET BALANCE with it
    term.close()


@pytest.mark.parametrize("cell", ["abc", "1.005", "-1", "1,00", "42949672.96", "１"])
def test_a_bad_purse_balance_names_the_row_and_the_column(tmp_path: Path, cell: str) -> None:
    quoted = f'"{cell}"' if "," in cell else cell
    rows = ["张三,440106199001011235,A00000001,1.00", f"李四,440106199001011235,A00000002,{quoted}"]
    path = write_csv(tmp_path, rows, "name,ssn,card_number,purse_balance\n")
    result = issue(path, tmp_path / "out")
    assert result.issued == 1 and [(e.line, e.card_number) for e in result.errors] == [(3, "A00000002")]
    message = str(result.errors[0])
    assert message.startswith("line 3 (A00000002): purse_balance: ") and cell not in message.split(": ", 2)[2]
    assert not (tmp_path / "out" / "A00000002.json").exists()


def test_cli_reports_a_bad_purse_balance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path, ["张三,440106199001011235,A00000001,yuan"], "name,ssn,card_number,purse_balance\n")
    assert main(["card", "batch", str(path), "--out", str(tmp_path / "o"), "-q"]) == 1
    assert f"{path}:2: A00000001: purse_balance: an amount in yuan" in capsys.readouterr().err
