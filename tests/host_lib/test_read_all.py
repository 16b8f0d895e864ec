"""``sscard read --all``: every DF, file and item of the card with its title and name; B-TLV templates with their
sub-items, cyclic files with their records; a file the terminal cannot open named with why (the PIN, a key)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from firmware_sim.demo import DEMO_DIR
from host.terminal import Terminal
from protocols.profile import GEN2

from tests.support.cli import run


def test_read_all_names_every_item(tmp_path: Path) -> None:
    card = shutil.copy(DEMO_DIR / "guangzhou-gen2.json", tmp_path / "card.json")
    assert run("write", "--reader", f"sim:{card}", "DF07EF05", "F2", "20240102").returncode == 0
    out = run("read", "--all", "--reader", f"sim:{card}")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for df in GEN2.dfs:
        assert f"{df.name} {df.title}" in text
        for ef in df.files:
            assert f"  {ef.name} {ef.title} (" in text
    for words in ("09     姓名 name  陈晓明", "2C     联系人（监护人）姓名 guardian_name  陈大文",
                  "40:01  学历数据项40（1） df01ef15_40_1", "           59  广州市",
                  "F2     DF07文件05数据项F2 df07ef05_f2  20240102", "99:04  就业援助对象认定数据项99（4）",
                  "EF19 参保地信息 (records, read pin): not read — needs the PIN"):
        assert words in text, words


def test_read_all_with_the_pin_reads_the_pin_files(tmp_path: Path) -> None:
    out = run("read", "--all", "--pin", "123456", "--reader", "sim")
    assert out.returncode == 0, out.stderr
    assert "79:01  参保地信息（1） insurance_region_1" in out.stdout and "           1A  20150701" in out.stdout
    assert "needs the PIN" not in out.stdout


def test_read_all_json(tmp_path: Path) -> None:
    card = shutil.copy(DEMO_DIR / "guangzhou-gen2.json", tmp_path / "card.json")
    assert run("write", "--reader", f"sim:{card}", "DF03EF19", "79:02", "9,,,,,,20200101,").returncode == 0
    data = json.loads(run("read", "--all", "--json", "--pin", "123456", "--reader", f"sim:{card}").stdout)
    assert data["DF03EF19"]["insurance_region_2"] == {"18": "9", "19": "", "1A": "", "1B": "", "1C": "", "1D": "",
                                                      "1E": "20200101"}
    assert data["DF01EF06"]["guardian_phone"] == "020-12345678" and data["skipped"] == {}
    assert data["DF01EF16"] == {"01": "0 bytes"}


def test_read_all_without_a_psam_names_the_keys(tmp_path: Path) -> None:
    out = run("read", "--all", "--no-auth", "--reader", "sim")
    assert out.returncode == 0, out.stderr
    assert "EF05 户籍 (records, read key(88)): not read — needs key 88 (a PSAM)" in out.stdout
    assert "EF16 预留 (binary, read free)" in out.stdout and "EF05 发卡机构数据 (records, read free)" in out.stdout


def test_a_wrong_pin_costs_one_try_and_read_all_goes_on() -> None:
    from host.spec import open_terminal
    term: Terminal = open_terminal("sim")
    files = term.read_all(pin="000000")
    pin_files = [f for f in files if f.ef.read.cond.value == "pin"]
    assert pin_files and all(f.skipped and not f.values for f in pin_files)
    assert any(f.values for f in files if f.df.name == "DF07")
    assert term.pin_tries_left() == 2
