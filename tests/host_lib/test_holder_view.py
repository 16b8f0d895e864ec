"""The holder view: ``Terminal.read_holder`` and ``sscard read`` with names for every code, the validity warning,
``--photo`` and ``--lang``."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import DEMO_DIR, demo_psam
from firmware_sim.issuance.personalise import new_card, write_new_card
from firmware_sim.psam import PsamOS
from firmware_sim.psam_image import PsamImage
from hardware.inprocess import InProcessReader
from host import cli
from host.cli.exits import EXIT_CARD, EXIT_OK
from host.cli.read import validity, validity_warning
from host.standard import SSCardDriver
from host.terminal import BasicInfo, Terminal

PHOTO = (DEMO_DIR / "photo-2.jpg").read_bytes()
PERSON = {"name": "周文静", "ssn": "440106198807064323", "card_number": "F44010007",
          "issue_date": "20240301", "expiry_date": "20340301", "ethnicity": "03", "birthplace": "440102",
          "first_region": "440300", "nationality": "USA", "residence_region": "440106"}


def card(tmp_path: Path, photo: bytes = PHOTO, **items: str) -> str:
    """A card image for PERSON with ``items`` changed; its reader spec."""
    path = tmp_path / "card.json"
    write_new_card(path, {**PERSON, **items}, profile="gen2", region="440100", serial=11, photo=photo, bank=False)
    return f"sim:{path}"


def card_as_issued_elsewhere(tmp_path: Path, **items: str) -> str:
    """A card whose ``items`` hold codes the tables do not have (issuance here refuses them, so the image is
    edited after issuance, as a card from another issuer may hold them); its reader spec."""
    spec = card(tmp_path)
    path = Path(spec.removeprefix("sim:"))
    doc = json.loads(path.read_text(encoding="utf-8"))

    def patch(node: object) -> None:
        if isinstance(node, dict):
            if node.get("name") in items and "value" in node:
                node["value"] = items[node["name"]]
            for child in node.values():
                patch(child)
        elif isinstance(node, list):
            for child in node:
                patch(child)
    patch(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return spec


def read(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli.main(["read", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def row(out: str, label: str) -> str:
    """The value of the table row whose label is ``label``."""
    for line in out.splitlines():
        if line.startswith(label + "  "):
            return line[len(label):].strip()
    raise AssertionError(f"no row {label!r} in\n{out}")


# --- the terminal flow ---------------------------------------------------------------------------------------------
def test_read_holder_adds_the_coded_items_in_one_session(tmp_path: Path) -> None:
    img = new_card(PERSON, region="440100", serial=3)
    term = Terminal(InProcessReader(CardOS(img)), InProcessReader(PsamOS(demo_psam("440100"))))
    holder = term.read_holder()
    assert holder.items == {"first_region": "440300", "nationality": "USA", "residence_region": "440106"}
    assert holder.basic == term.read_basic_info()
    assert (holder.basic.ethnicity, holder.basic.birthplace, holder.basic.card_type) == ("03", "440102", "3")


def test_items_behind_a_key_the_psam_lacks_are_left_out_and_cost_no_try() -> None:
    img = new_card(PERSON, region="440100", serial=3)
    psam = demo_psam("440100")
    psam = PsamImage(psam.atr, psam.region, psam.terminal, [k for k in psam.keys if not k.name.startswith("DF01.")],
                     psam.note)
    card_os = CardOS(img)
    term = Terminal(InProcessReader(card_os), InProcessReader(PsamOS(psam)))
    holder = term.read_holder()
    assert holder.items == {"first_region": "440300"} and holder.basic.name == "周文静"
    df01 = card_os.image.dfs["DF01"]
    assert all(k.tries_left == k.max_tries for k in df01.keys.values())


def test_without_authentication_only_the_free_items_are_read() -> None:
    img = new_card(PERSON, region="440100", serial=3)
    term = Terminal(InProcessReader(CardOS(img)), InProcessReader(PsamOS(demo_psam("440100"))))
    assert term.read_holder(authenticate=False).items == {"first_region": "440300"}


def test_read_photo_of_a_card_without_one_is_empty() -> None:
    img = new_card(PERSON, region="440100", serial=3)
    term = Terminal(InProcessReader(CardOS(img)), InProcessReader(PsamOS(demo_psam("440100"))))
    assert term.read_photo() == b""


# --- names for the codes, in each language ----------------------------------------------------------------------------
def test_known_codes_are_shown_with_their_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = read(capsys, "-r", card(tmp_path))
    assert rc == EXIT_OK and err == ""
    assert row(out, "发卡地区 Issuing region") == "440100 广东省广州市"
    assert row(out, "民族 Ethnicity") == "03 回族 Hui"
    assert row(out, "出生地 Birthplace") == "440102 广东省广州市东山区（2005年起停用 code retired 2005）"
    assert row(out, "国籍 Nationality") == "USA 美国 United States"
    assert row(out, "初次申领地 First application region") == "440300 广东省深圳市"
    assert row(out, "常住地 Residence region") == "440106 广东省广州市天河区"
    assert row(out, "卡的类别 Card type") == "3"
    assert row(out, "性别 Sex") == "女 female"


def test_lang_zh_and_en(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = card(tmp_path)
    rc, zh, _ = read(capsys, "-r", spec, "--lang", "zh")
    assert rc == EXIT_OK
    assert row(zh, "民族") == "03 回族" and row(zh, "国籍") == "USA 美国" and row(zh, "性别") == "女"
    assert row(zh, "卡片认证") == "是 (DES3)" and row(zh, "出生地") == "440102 广东省广州市东山区（2005年起停用）"
    assert not any(c.isascii() and c.isalpha() for line in zh.splitlines() for c in line.split("  ")[0])
    rc, en, _ = read(capsys, "-r", spec, "--lang", "en")
    assert rc == EXIT_OK
    assert row(en, "Ethnicity") == "03 Hui" and row(en, "Nationality") == "USA United States"
    assert row(en, "Sex") == "female" and row(en, "Card authenticated") == "yes (DES3)"
    assert row(en, "Birthplace") == "440102 广东省广州市东山区 (code retired 2005)"   # region names stay Chinese
    assert row(en, "Name") == "周文静"
    rc, both, _ = read(capsys, "-r", spec)
    rc2, both2, _ = read(capsys, "-r", spec, "--lang", "both")
    assert rc == rc2 == EXIT_OK and both == both2 and row(both, "姓名 Name") == "周文静"


def test_unknown_codes_show_the_code_and_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = card_as_issued_elsewhere(tmp_path, ethnicity="77", birthplace="999999", nationality="XYZ",
                                    residence_region="440199")
    rc, out, err = read(capsys, "-r", spec)
    assert rc == EXIT_OK and err == ""
    assert row(out, "民族 Ethnicity") == "77 未知民族 unknown ethnicity"
    assert row(out, "出生地 Birthplace") == "999999 未知地区 unknown region"
    assert row(out, "国籍 Nationality") == "XYZ 未知国籍 unknown nationality"
    assert row(out, "常住地 Residence region") == "440199 未知地区 unknown region"
    rc, en, _ = read(capsys, "-r", spec, "--lang", "en")
    assert row(en, "Birthplace") == "999999 unknown region" and row(en, "Ethnicity") == "77 unknown ethnicity"
    data = json.loads(read(capsys, "-r", spec, "--json")[1])
    assert (data["ethnicity"], data["birthplace"], data["nationality"]) == ("77", "999999", "XYZ")


# --- validity ------------------------------------------------------------------------------------------------------
def _info(issue: str, expiry: str) -> BasicInfo:
    return BasicInfo("440100", "", "", "", "", "", "2.00", issue, expiry, "", "3", "", "1", "01", "", "", "DES3", True)


@pytest.mark.parametrize("issue, expiry, today, state", [
    ("20200101", "20300101", dt.date(2025, 6, 1), "valid"),
    ("20200101", "20300101", dt.date(2030, 1, 1), "valid"),          # valid through its expiry date
    ("20200101", "20300101", dt.date(2030, 1, 2), "expired"),
    ("20200101", "20300101", dt.date(2019, 12, 31), "not_yet_valid"),
    ("20200101", "20300101", dt.date(2020, 1, 1), "valid"),
    ("2012", "", dt.date(2025, 6, 1), "unknown"),                     # an early card's ASCII year, an unset expiry
    ("", "20200101", dt.date(2025, 6, 1), "expired"),
])
def test_validity_compares_the_dates_to_today(issue: str, expiry: str, today: dt.date, state: str) -> None:
    assert validity(_info(issue, expiry), today) == state
    assert (validity_warning(_info(issue, expiry), today) is None) == (state in ("valid", "unknown"))


def test_an_expired_card_is_read_with_one_warning_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = card(tmp_path, issue_date="20100301", expiry_date="20200301")
    rc, out, err = read(capsys, "-r", spec)
    assert rc == EXIT_OK and row(out, "姓名 Name") == "周文静"
    assert err.count("\n") == 1 and "卡已过期" in err and "the card has expired" in err and "2020-03-01" in err
    rc, _, err = read(capsys, "-r", spec, "--lang", "en")
    assert rc == EXIT_OK and err == "sscard: warning: the card has expired (expiry date 2020-03-01)\n"
    rc, _, err = read(capsys, "-r", spec, "--lang", "zh")
    assert rc == EXIT_OK and err == "sscard: 警告：卡已过期（有效期至 2020-03-01）\n"
    rc, out, err = read(capsys, "-r", spec, "--json")
    assert rc == EXIT_OK and json.loads(out)["validity"] == "expired" and "expired" in err
    # the standard interface answers as it always did: no warning, the dates as the card holds them
    code, bas = SSCardDriver(spec).iReadCardBas(3)
    assert code == 0 and bas.split("|")[7:9] == ["20100301", "20200301"] and "warn" not in bas


def test_a_card_not_yet_valid_is_read_with_one_warning_line(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = read(capsys, "-r", card(tmp_path, issue_date="20990101", expiry_date="21090101"), "--lang", "en")
    assert rc == EXIT_OK and row(out, "Name") == "周文静"
    assert err == "sscard: warning: the card is not valid yet (issue date 2099-01-01)\n"


def test_a_valid_card_gets_no_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = read(capsys, "-r", card(tmp_path), "--json")
    assert rc == EXIT_OK and err == "" and json.loads(out)["validity"] == "valid"


# --- the photo ------------------------------------------------------------------------------------------------------
def test_photo_writes_exactly_the_photo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "holder.jpg"
    rc, out, err = read(capsys, "-r", card(tmp_path), "--photo", str(target))
    assert rc == EXIT_OK and err == "" and row(out, "姓名 Name") == "周文静"
    assert target.read_bytes() == PHOTO
    assert os.stat(target).st_mode & 0o777 == 0o600                  # personal data: the owner's only


def test_photo_of_a_card_without_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "holder.jpg"
    spec = card(tmp_path, photo=b"")
    rc, out, err = read(capsys, "-r", spec, "--photo", str(target))
    assert rc == EXIT_CARD and row(out, "姓名 Name") == "周文静"     # the view is still shown
    assert err == f"sscard: 卡内没有照片，未写入 {target} · the card holds no photo; {target} not written\n"
    assert not target.exists()
    rc, _, err = read(capsys, "-r", spec, "--photo", str(target), "--lang", "en")
    assert rc == EXIT_CARD and err == f"sscard: the card holds no photo; {target} not written\n"
