"""Input that is checked at the counter terminal: every value against its item before anything reaches the card,
images that are never silently replaced, irreversible commands that are confirmed, and user errors that end in
a message and a documented exit code, never a traceback. The real CLI, as a user runs it."""
from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import ROOT, SSCARD, run

PERSON = ("--name", "李雷", "--ssn", "440106200001011230", "--card-number", "E44010001")
GBK_PEOPLE = "name,ssn,card_number\n陈晓明,440106198503127719,A44010009\n"


def new_card(tmp: Path, name: str = "card.json") -> Path:
    path = tmp / name
    out = run("card", "new", "--out", str(path), *PERSON)
    assert out.returncode == 0, out.stderr
    return path


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text and "Exception ignored" not in text, text


def in_pty(args: list[str], keys: list[bytes], timeout: float = 30) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal (standard input a TTY), typing ``keys`` one after another as it waits."""
    pid, fd = pty.fork()
    if pid == 0:                                 # the child: the CLI with the pty as its terminal
        os.chdir(ROOT)
        os.execv(sys.executable, SSCARD + args)
    out = b""
    deadline = time.monotonic() + timeout
    pending = list(keys)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:                  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
                if pending and out.rstrip().endswith((b":", b"go on:")):
                    os.write(fd, pending.pop(0))
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


# --- sscard write ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("file, tag, value, words", [
    ("SSSEEF06", "0D", "19900230", "birth_date (出生日期): not a real calendar date"),
    ("SSSEEF06", "ssn", "440106200001011234", "ssn (社会保障号码): the check character does not match"),
    ("SSSEEF06", "ssn", "44010620000101123", "ssn (社会保障号码): 17 characters"),
    ("SSSEEF06", "sex", "3", "sex (性别): not a code of GB/T 2261.1-2003 (0, 1, 2, 9)"),
    ("SSSEEF06", "0B", "57", "ethnicity (民族): not a code of GB/T 3304-1991"),
    ("SSSEEF06", "name", "王\t五", "name (姓名): character 2 is a control character"),
    ("SSSEEF06", "name", "𠀀", "name (姓名): character 1 cannot be encoded in GBK"),
    ("SSSEEF05", "expiry_date", "2034-03-01", "expiry_date (卡有效期): character 5 is not a digit"),
    ("DF01EF0A", "nationality", "ZZZ", "nationality (国籍): not a code of GB/T 2659.1"),
    ("DF01EF06", "guardian_phone", "020 1234", "guardian_phone (联系人（监护人）电话): character 4 is not a digit"),
    ("DF03EF19", "79:02", "1234,,,,,,,", "insurance_region_2 (参保地信息（2）): sub-item 18: 4 bytes in GBK"),
])
def test_write_checks_the_value_before_the_card_sees_it(tmp_path: Path, file: str, tag: str, value: str,
                                                        words: str) -> None:
    card = new_card(tmp_path)
    before = card.read_bytes()
    out = run("write", "--reader", f"sim:{card}", file, tag, value)
    assert out.returncode == 2 and words in out.stderr, out.stderr
    assert_no_traceback(out.stderr)
    assert card.read_bytes() == before                          # nothing was written
    if len(value) > 4:
        assert value not in out.stderr                           # the message names the item, never the value


def test_write_takes_good_values(tmp_path: Path) -> None:
    card = new_card(tmp_path)
    out = run("write", "--reader", f"sim:{card}", "SSSEEF06", "ssn", "11010519491231002X")
    assert out.returncode == 0 and "SSSEEF06 ssn written" in out.stdout, out.stderr
    assert json.loads(run("read", "--reader", f"sim:{card}", "--json").stdout)["ssn"] == "11010519491231002X"
    assert run("write", "--reader", f"sim:{card}", "DF01EF0A", "37", "HKG").returncode == 0


def test_write_lists_the_valid_files_and_items(tmp_path: Path) -> None:
    out = run("write", "--reader", "sim", "SSSEEF09", "09", "x")
    assert out.returncode == 2 and "no writable file 'SSSEEF09'; files: SSSEEF05, SSSEEF06, SSSEEF0D" in out.stderr
    out = run("write", "--reader", "sim", "SSSEEF06", "nickname", "x")
    assert out.returncode == 2 and "SSSEEF06 has no item 'nickname'; items: 08 ssn, 09 name" in out.stderr
    assert_no_traceback(out.stderr)
    out = run("write", "--help")
    assert out.returncode == 0
    for text in ("SSSEEF06", "0A sex", "GB/T 2261.1", "0B ethnicity", "GB/T 3304", "08 ssn", "GB 11643-1999",
                 "37 nationality", "GB/T 2659", "0D birth_date", "YYYYMMDD", "79:01 insurance_region_1",
                 "sub-items 18 19 1A 1B 1C 1D 1E", "DF07EF06", "DF02EF15"):
        assert text in out.stdout, text


# --- card new and card batch -----------------------------------------------------------------------------------
def test_card_new_checks_every_value(tmp_path: Path) -> None:
    out_path = tmp_path / "c.json"
    for args, words in (
        (("--ssn", "440106200001011234"), "ssn (社会保障号码): the check character does not match"),
        (("--issue-date", "20230229"), "issue_date (发卡日期): not a real calendar date"),
        (("--card-number", "E4401000"), "card_number (卡号): 8 characters"),
        (("--region", "990100"), "region: digits 1-2 are not a province-level code"),
        (("--initial-pin", "1234"), "--initial-pin must be 6 digits, got 4"),
    ):
        given = dict(zip(PERSON[::2], PERSON[1::2]))
        given.update(zip(args[::2], args[1::2]))
        out = run("card", "new", "--out", str(out_path), *[x for kv in given.items() for x in kv])
        assert out.returncode == 2 and words in out.stderr, (args, out.stderr)
        assert not out_path.exists()


def test_card_batch_checks_item_columns(tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("name,ssn,card_number,ethnicity,sex\n"
                   "甲,440106200001011230,E44010001,01,1\n"
                   "乙,440106200001011230,E44010002,57,1\n"
                   "丙,440106200001011230,E44010003,01,5\n"
                   "丁,440106200001011234,E44010004,01,1\n", encoding="utf-8")
    out = run("card", "batch", str(csv), "--out", str(tmp_path / "out"), "-q")
    assert out.returncode == 1, out.stderr
    assert f"{csv}:3: E44010002: ethnicity (民族): not a code of GB/T 3304-1991" in out.stderr
    assert f"{csv}:4: E44010003: sex (性别): not a code of GB/T 2261.1-2003" in out.stderr
    assert f"{csv}:5: E44010004: ssn (社会保障号码): the check character does not match" in out.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == ["E44010001.json"]


def test_card_batch_never_replaces_an_image_without_force(tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("name,ssn,card_number\n甲,440106200001011230,E44010001\n乙,440106200001021244,E44010002\n",
                   encoding="utf-8")
    out_dir = tmp_path / "out"
    assert run("card", "batch", str(csv), "--out", str(out_dir), "-q").returncode == 0
    card = out_dir / "E44010001.json"
    spec = f"sim:{card}"
    assert run("pin", "change", "--reader", spec, "--pin", "123456", "--new-pin", "654321").returncode == 0
    in_use = card.read_bytes()                                    # a card in use: its PIN changed
    (out_dir / "E44010002.json").unlink()

    out = run("card", "batch", str(csv), "--out", str(out_dir), "-q")
    assert out.returncode == 2, out.stderr
    assert f"{csv}:2: E44010001: {card} exists: not replaced" in out.stderr and "--force" in out.stderr
    assert card.read_bytes() == in_use                            # nothing written for that card …
    assert (out_dir / "E44010002.json").exists()                  # … the other card is issued
    assert "1 image(s) already there kept" in out.stdout
    assert run("pin", "verify", "--reader", spec, "--pin", "654321").returncode == 0

    out = run("card", "batch", str(csv), "--out", str(out_dir), "-q", "--force")
    assert out.returncode == 0, out.stderr
    assert card.read_bytes() != in_use
    assert run("pin", "verify", "--reader", spec, "--pin", "123456").returncode == 0


def test_card_new_never_replaces_an_image_without_force(tmp_path: Path) -> None:
    card = new_card(tmp_path)
    before = card.read_bytes()
    out = run("card", "new", "--out", str(card), *PERSON)
    assert out.returncode == 2 and f"{card} exists: not replaced (use --force to replace it)" in out.stderr
    assert card.read_bytes() == before
    assert run("card", "new", "--out", str(card), *PERSON, "--force", "--serial", "9").returncode == 0
    assert card.read_bytes() != before


def test_a_gbk_csv_is_named_and_the_option_suggested(tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_bytes(GBK_PEOPLE.encode("gbk"))
    out = run("card", "batch", str(csv), "--out", str(tmp_path / "out"), "-q")
    assert out.returncode == 2
    assert f"{csv}: not UTF-8 text (line 2" in out.stderr and "--encoding gbk" in out.stderr, out.stderr
    assert_no_traceback(out.stderr)
    assert not list((tmp_path / "out").glob("*.json")) if (tmp_path / "out").exists() else True
    out = run("card", "batch", str(csv), "--out", str(tmp_path / "out"), "-q", "--encoding", "gbk")
    assert out.returncode == 0, out.stderr
    assert json.loads(run("read", "--reader", f"sim:{tmp_path / 'out' / 'A44010009.json'}", "--json",
                          "--no-auth").stdout)["name"] == "陈晓明"


# --- irreversible commands --------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--permanent", "--card"])
def test_irreversible_blocks_need_yes_without_a_terminal(tmp_path: Path, option: str) -> None:
    card = new_card(tmp_path)
    before = card.read_bytes()
    out = run("block", "--reader", f"sim:{card}", option)
    assert out.returncode == 2 and "cannot be undone: confirm it with --yes" in out.stderr, out.stderr
    assert card.read_bytes() == before
    out = run("block", "--reader", f"sim:{card}", option, "--yes")
    assert out.returncode == 0, out.stderr
    assert run("read", "--reader", f"sim:{card}").returncode != 0    # blocked for good


def test_a_temporary_block_needs_no_confirmation(tmp_path: Path) -> None:
    card = new_card(tmp_path)
    out = run("block", "--reader", f"sim:{card}")           # no terminal, no --yes: a temporary block goes ahead
    assert out.returncode == 0 and "SSSE blocked" in out.stdout, out.stderr


def test_irreversible_blocks_ask_on_a_terminal(tmp_path: Path) -> None:
    card = new_card(tmp_path)
    before = card.read_bytes()
    code, text = in_pty(["block", "--reader", f"sim:{card}", "--card"], [b"no\n"])
    assert code == 2 and "Type yes to go on" in text and "not confirmed" in text, text
    assert card.read_bytes() == before
    code, text = in_pty(["block", "--reader", f"sim:{card}", "--permanent"], [b"yes\n"])
    assert code == 0 and "SSSE blocked permanently" in text, text


# --- no traceback for user errors --------------------------------------------------------------------------------
def test_end_of_input_at_the_pin_prompt(tmp_path: Path) -> None:
    card = new_card(tmp_path)
    code, text = in_pty(["pin", "verify", "--reader", f"sim:{card}"], [b"\x04"])     # Ctrl-D
    assert code == 2 and "no PIN given: end of input at the prompt (Ctrl-D)" in text, text
    assert_no_traceback(text)
    out = run("pin", "verify", "--reader", f"sim:{card}")                        # standard input empty
    assert out.returncode == 2 and "no PIN given: standard input ended" in out.stderr
    assert run("pin", "tries", "--reader", f"sim:{card}").stdout.strip() == "3"  # no try was spent


def test_a_closed_pipe_ends_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)                                  # the reader (`| head -1`) has gone
    try:
        out = subprocess.run(SSCARD + ["read", "--reader", "sim"], stdout=write_end, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT, timeout=60)
    finally:
        os.close(write_end)
    assert out.returncode == 141 and out.stderr == "", out.stderr


def test_a_bad_serial_option_is_named() -> None:
    out = run("read", "--reader", "ccid-serial:/dev/null,baud=fast")
    assert out.returncode == 2 and "ccid-serial option baud='fast' is not a whole number" in out.stderr
    assert_no_traceback(out.stderr)
    out = run("read", "--reader", "ccid-serial:/dev/null,protocol=2")
    assert out.returncode == 2 and "protocol='2'" in out.stderr


def test_no_pcscd_says_how_to_start_one(tmp_path: Path) -> None:
    pytest.importorskip("smartcard")
    env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(tmp_path / "no-pcscd.comm"))   # a socket nobody serves
    out = subprocess.run(SSCARD + ["read", "--reader", "pcsc"], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=60)
    assert out.returncode == 3, out.stderr
    assert "cannot reach pcscd" in out.stderr and "sudo service pcscd start" in out.stderr, out.stderr
    assert_no_traceback(out.stderr)


def test_emulate_vpcd_with_nothing_listening_says_so_and_retries(tmp_path: Path) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()                                        # a port nothing listens on (for now)
    proc = subprocess.Popen(SSCARD + ["emulate", "--vpcd", str(port)], cwd=ROOT, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    try:
        lines: list[str] = []
        while not any(f"nothing is listening on 127.0.0.1:{port}" in ln for ln in lines):
            lines.append(proc.stderr.readline())
            assert lines[-1], "".join(lines)
        assert "retrying every second until interrupted" in lines[-1]
        assert proc.poll() is None                       # it keeps trying …
        server = socket.create_server(("127.0.0.1", port))
        try:
            conn, _ = server.accept()                    # … and connects once something listens
            conn.close()
        finally:
            server.close()
        while not any(f"vpcd 127.0.0.1:{port}: connected" in ln for ln in lines):
            lines.append(proc.stderr.readline())
            assert lines[-1], "".join(lines)
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert_no_traceback("".join(lines) + rest)


# --- one PIN rule --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pin, words", [("12345", "must be 6 digits, got 5"), ("1234567", "must be 6 digits, got 7"),
                                        ("12a456", "may hold digits only")])
def test_the_cli_follows_the_pin_rule_of_the_standard_interface(tmp_path: Path, pin: str, words: str) -> None:
    from host import errors as E
    from host.standard.pinpad import PinPrompt, ScriptedPins, ask_pin
    card = new_card(tmp_path)
    out = run("pin", "verify", "--reader", f"sim:{card}", "--pin", pin)
    assert out.returncode == 2 and f"--pin {words}" in out.stderr, out.stderr
    out = run("pin", "verify", "--reader", f"sim:{card}", stdin=pin + "\n")
    assert out.returncode == 2 and words in out.stderr
    with pytest.raises((E.PinLengthError, E.IllegalCharacters)) as err:      # -33 / -41 in the interface
        ask_pin(ScriptedPins.of(pin), PinPrompt.CURRENT)
    assert words in str(err.value)
    assert run("pin", "tries", "--reader", f"sim:{card}").stdout.strip() == "3"
