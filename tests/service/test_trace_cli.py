"""`sscard trace -- …`: the APDU trace of any command, redacted by default."""
from __future__ import annotations

import json

from host import cli
from host.tracing import Describer, format_table


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_trace_table_of_read_is_redacted(capsys):
    rc, out, err = run(capsys, "trace", "--", "read", "-r", "sim:shenzhen-gen3")
    assert rc == 0 and "林婉婷" in out                      # the command's own output is untouched
    assert "INTERNAL AUTHENTICATE" in err and "EXTERNAL AUTHENTICATE key 0A (RK)" in err
    assert "READ RECORD EF06 records 1–last" in err              # the whole file in one command
    assert "success / 成功" in err
    assert "<redacted" in err
    name_gbk = "林婉婷".encode("gbk").hex().upper()
    assert name_gbk not in err and "440304199207214528".encode().hex().upper() not in err


def test_trace_json_lines_and_no_redact(capsys, tmp_path):
    log = tmp_path / "trace.jsonl"
    rc, out, err = run(capsys, "trace", "--no-redact", "--jsonl", str(log), "--", "read", "-r", "sim:shenzhen-gen3")
    assert rc == 0
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    apdus = [e for e in entries if "cmd" in e]
    assert {e["slot"] for e in apdus} == {"card", "psam"}
    assert all({"cmd_name", "cmd", "rsp", "sw", "sw_en", "sw_zh", "detail"} <= set(e) for e in apdus)
    assert "林婉婷".encode("gbk").hex().upper() in log.read_text()
    assert entries[0]["event"] == "power on" and entries[0]["atr"].startswith("3B6D")


def test_trace_pin_is_redacted_and_sw_meanings(capsys):
    rc, out, err = run(capsys, "trace", "--json", "--", "pin", "verify", "--pin", "000000")
    assert rc == cli.EXIT_AUTH
    verify = [json.loads(line) for line in err.splitlines() if line.startswith("{") and '"VERIFY"' in line]
    assert verify and verify[0]["cmd"] == "0020000003<redacted 3 bytes>"
    assert verify[0]["sw"] == "63C2" and verify[0]["sw_zh"] == "校验失败，还剩2次"


def test_trace_of_apdu_command_and_exit_code(capsys):
    rc, out, err = run(capsys, "trace", "--", "apdu", "00A404000F7378312E73682EC9E7BBE1B1A3D5CF", "00B2072C00")
    assert rc == 0 and "READ RECORD EF05 record 7 卡号" in err
    rc, out, err = run(capsys, "trace", "--")
    assert rc == 2


def test_describer_names_files_and_keys():
    d = Describer("card")
    assert d(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00")).startswith("SSSE")
    assert d(bytes.fromhex("00B2093000")) == "EF06 tag 09 姓名"
    assert d(bytes.fromhex("0082000A10" + "00" * 16)) == "key 0A (RK)"
    assert Describer("psam")(bytes.fromhex("00A4040006D15600000590")) == "PSAM 3DES application"
    table = format_table([{"slot": "card", "event": "power on", "atr": "3B00"}])
    assert "power on, ATR 3B00" in table
