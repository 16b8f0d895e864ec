"""`sscard trace -- …`: the APDU trace of any command, redacted by default."""
from __future__ import annotations

import json

import pytest

from host import cli
from host.cli.trace import format_table
from host.trace import Describer, command_name, redact_command


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
    assert name_gbk not in err and b"44030419920721452X".hex().upper() not in err


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


def test_trace_of_a_secured_write_hides_the_value_in_the_psam_mac_input(capsys):
    """DF04 files are written with CLA 04 and a MAC: the PSAM's MAC input holds the record, so it is redacted."""
    rc, out, err = run(capsys, "trace", "--wide", "--", "write", "DF04EF05", "medical_org", "440100000002")
    assert rc == 0 and "PSAM COMPUTE MAC" in err and "UPDATE RECORD (MAC)" in err
    mac_lines = [line for line in err.splitlines() if "PSAM COMPUTE MAC" in line]
    assert mac_lines and all("440100000002" not in line for line in mac_lines)
    assert "80FA050018<redacted 24 bytes>00" in err                  # Le stays visible


def test_extended_lc_write_is_redacted(capsys):
    name = "林婉婷".encode("gbk").ljust(30, b"\0")
    write = "00DC0234" + "000020" + "091E" + name.hex().upper()            # UPDATE RECORD, extended Lc
    rc, out, err = run(capsys, "trace", "--json", "--", "apdu", "00A404000F7378312E73682EC9E7BBE1B1A3D5CF", write)
    entries = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    update = next(e for e in entries if e.get("cmd_name") == "UPDATE RECORD")
    assert update["cmd"] == "00DC0234000020<redacted 32 bytes>" and update["detail"] == "EF06 record 2 姓名"
    assert "林婉婷".encode("gbk").hex().upper() not in err


@pytest.mark.parametrize("apdu, shown", [
    ("80FA05001800000000000000001122334455667788" + "AA" * 8, "80FA050018<redacted 24 bytes>"),   # MAC: IV ‖ data
    ("80FA0000081122334455667788", "80FA000008<redacted 8 bytes>"),                              # encipher
    ("80FA050000001800000000000000001122334455667788" + "AA" * 8, "80FA0500000018<redacted 24 bytes>"),
    ("0020000003123456", "0020000003<redacted 3 bytes>"),
    ("00200000000003123456", "00200000000003<redacted 3 bytes>"),
    ("00200000031234", "00200000<redacted 3 bytes>"),                          # malformed: all but the header
    ("BFDE4812100102030405060708A1A2A3A4A5A6A7A8", "BFDE4812100102030405060708A1A2A3A4A5A6A7A8"),
])
def test_redact_command(apdu, shown):
    assert redact_command(bytes.fromhex(apdu)) == shown


def test_vendor_psam_init_is_decoded_like_801a():
    factors = "0102030405060708"
    for cla_ins in ("801A", "BFDE"):
        apdu = bytes.fromhex(cla_ins + "4809" + "10" + factors + factors)
        assert command_name(apdu) == "PSAM INIT (DIVERSIFY)"
        assert Describer("psam")(apdu) == "key STK, 2 level(s)"
        assert redact_command(apdu) == apdu.hex().upper()
