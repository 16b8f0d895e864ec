"""`sscard shell`: scripts with expected-SW assertions, completion, interactive use."""
from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

import pytest

from host import cli
from host.cli.shell import CardShell, holds_pin, sw_matches

GOOD = """\
# read the card
ls
cd SSSE
cat EF05 --expect-sw 9000
cat EF05 card_number
apdu 00B2072C00 --expect-sw 9000
verify 000000 --expect-sw 63C2
verify 123456 --expect-sw 9000
tries
cat EF08 --expect-sw 6982
auth 0A --expect-sw 9000
cat EF08
cd DF01
ls EF05
cd /
apdu 00A4040006D15600000500 --expect-sw 9000
"""


def script(tmp_path, text: str) -> str:
    path = tmp_path / "check.sscard"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_script_passes(tmp_path, capsys):
    rc = cli.main(["shell", "-r", "sim", "--script", script(tmp_path, GOOD)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "A44010001" in out and "wrong PIN, 2 tries left" in out and "JPEG" in out
    assert "all lines passed (7 SW expectation(s))" in out


def test_failed_expectation_exits_1_naming_the_line(tmp_path, capsys):
    path = script(tmp_path, "cd SSSE\n\n# comment\napdu 00B2072C00 --expect-sw 6A82\ncat EF05\n")
    rc = cli.main(["shell", "-r", "sim", "--script", path])
    out, err = capsys.readouterr()
    assert rc == 1
    assert f"{path}:4: expected SW 6A82, got 9000" in err
    assert "卡的识别码" not in out                  # stopped at the failing line


def test_failing_command_without_expectation_fails_the_script(tmp_path, capsys):
    path = script(tmp_path, "cd SSSE\ncat EF06\n")
    assert cli.main(["shell", "-r", "sim:shenzhen-gen3", "--script", path]) == 1
    assert f"{path}:2: security status not satisfied (6982)" in capsys.readouterr().err


def test_syntax_errors_exit_2(tmp_path, capsys):
    for text, why in (("frobnicate\n", "unknown command"), ("apdu 00B2ZZ\n", "not hex"),
                      ("apdu 00B2072C00 --expect-sw 90\n", "4 hex digits"), ("cat EF99\n", "cd into a DF")):
        path = script(tmp_path, text)
        assert cli.main(["shell", "-r", "sim", "--script", path]) == 2
        assert f"{path}:1: " in (err := capsys.readouterr().err) and why in err


def test_wildcards_and_gen3_auth_flow(tmp_path, capsys):
    text = "cd SSSE\nverify 999999 --expect-sw 63CX\ncat EF06 --expect-sw 6982\nauth 0A\ncat EF06 name\n"
    assert cli.main(["shell", "-r", "sim:shenzhen-gen3", "--script", script(tmp_path, text)]) == 0
    assert "林婉婷" in capsys.readouterr().out
    assert sw_matches("63CX", 0x63C1) and sw_matches("61XX", 0x6110) and not sw_matches("9000", 0x6A82)


def test_completion():
    from host.spec import open_terminal
    shell = CardShell(open_terminal("sim"), stdout=io.StringIO(), interactive=False)
    assert shell.complete_cd("SS", "cd SS", 3, 5) == ["SSSE"]
    assert "SSSE/EF05" in shell.complete_cat("SSSE/", "cat SSSE/", 4, 9)
    shell.run_line("cd SSSE")
    assert shell.complete_cat("EF0", "cat EF0", 4, 7) == ["EF05", "EF06", "EF07", "EF08", "EF0D"]
    assert shell.complete_cat("card_", "cat EF05 card_", 9, 14) == ["card_id", "card_type", "card_number"]
    assert shell.completenames("ve") == ["verify"]
    shell.term.close()


def test_interactive_session_from_stdin(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("host.cli.shell.HISTORY", tmp_path / "history")
    monkeypatch.setattr(sys, "stdin", io.StringIO("cd SSSE\nbogus\ncat EF05 7\napdu 00B2072C00 --expect-sw 6A82\nexit\n"))
    assert cli.main(["shell", "-r", "sim"]) == 0
    out = capsys.readouterr().out
    assert "error: unknown command 'bogus'" in out           # interactive: reported, the shell goes on
    assert "A44010001" in out and "expectation FAILED: expected SW 6A82, got 9000" in out
    assert "sscard:/SSSE> " in out


@pytest.mark.parametrize("pattern, sw, ok", [("9000", 0x9000, True), ("6a82", 0x6A82, True), ("6XXX", 0x9000, False)])
def test_sw_matches(pattern, sw, ok):
    assert sw_matches(pattern, sw) is ok


def run_on_a_pty(argv: list[str], lines: list[str], env: dict[str, str]) -> str:
    """Run a command with a pseudo-terminal as its console (so readline is in play), type ``lines``, return
    what it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    for line in lines:
        os.write(master, (line + "\n").encode())
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:          # EIO: the command has exited and closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    proc.wait(timeout=60)
    return out.decode("utf-8", "replace")


def test_pin_lines_stay_out_of_the_history(tmp_path):
    history = tmp_path / "history"
    history.write_text("cat EF05\nverify 654321\napdu 00200000036543210\n", encoding="utf-8")   # an old file
    env = dict(os.environ, SSCARD_HISTORY=str(history), HOME=str(tmp_path), TERM="dumb")
    lines = ["cd SSSE", "verify 123456", "apdu 0020000003123456", "apdu 00 20 00 00 03 12 34 56",
             "apdu 805E0100071234FF112233", "apdu --psam 80FA0000081122334455667788", "verify 123456 --expect-sw 9000",
             "tries", "apdu 00B2072C00", "exit"]
    out = run_on_a_pty([sys.executable, "-m", "host.cli", "shell", "-r", "sim"], lines, env)
    assert "PIN verified" in out and "0709413434303130303031 9000" in out
    kept = history.read_text(encoding="utf-8").splitlines()
    assert kept == ["cat EF05", "cd SSSE", "tries", "apdu 00B2072C00", "exit"]


@pytest.mark.parametrize("line, secret", [
    ("verify 123456", True), ("verify", True), ("  Verify 1 --expect-sw 9000", True), ("change 1 2", True),
    ("unblock", True), ("reload 123456", True), ("apdu 0020000003123456", True), ("apdu 00b2072c00 0024000103", True),
    ("apdu 00 20 00 00 03 12 34 56", True), ("apdu 845E", True), ("apdu --psam 80FA0500", True),
    ("apdu 80C4010305C10312345600", True),
    ("apdu 00B2072C00", False), ("cat EF05", False), ("tries", False), ("", False), ("apdu 0020zz", True),
])
def test_lines_with_pins(line, secret):
    assert holds_pin(line) is secret


def test_bad_hex_is_reported_by_position(tmp_path, capsys):
    path = script(tmp_path, "cd SSSE\napdu 00B2072C00 0020000003123456ZZ\n")
    assert cli.main(["shell", "-r", "sim", "--script", path]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: APDU 2 is not hex (character 17 is not a hex digit)" in err and "123456" not in err
