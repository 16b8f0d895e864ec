"""The library as a JVM, .NET or Delphi host loads it (dlopen RTLD_LOCAL, calls from the host's threads):
tests/native/harness.c. Bad inputs get the interface's codes (docs/sources.md §6.3) and never a crash or a write
past the buffer; concurrent callers are served one at a time; the PIN callback is asked on the caller's
thread and may not call the library back."""
from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.native.conftest import ROOT, TIMEOUT, run

HARNESS = ROOT / "tests" / "native" / "harness.c"

#: harness.c's bad-inputs labels and the code each must give.
BAD_INPUTS = {
    "ReadCardBas.null_out": -14, "ReadCardBas_Ex.size0": -14, "ReadCardBas_Ex.size-1": -14,
    "ReadCardBas.itype0": -14, "ReadCardBas.itype5": -14, "ReadCardBas.itype-1": -14,
    "ReadCardBas.itypemax": -14, "ReadCardBas.itypemin": -14,
    "ReadCardBas.contactless": -13,                 # the emulator is contact-only (driver.py: iType 2)
    "ReadCard.null_cardinfo": -14, "ReadCard.null_fileaddr": -14, "ReadCard.null_out": -14,
    "ReadCard.itype9": -14, "ReadCard.authtype7": -14,
    "ReadCard.addr_garbage": -23, "ReadCard.addr_no_dollar": -23, "ReadCard.addr_bad_file": -23,
    "ReadCard.addr_bad_item": -23, "ReadCard.addr_empty": -23,
    "ReadCard.addr_not_gbk": -41, "ReadCard.addr_cut_gbk": -41, "ReadCard.addr_too_long": -14,
    "ReadCard.cardinfo_format": -20, "ReadCard.cardinfo_not_gbk": -41,
    "WriteCard.null_data": -14, "WriteCard.data_not_gbk": -41, "WriteCard.itype0": -14,
    "VerifyPIN.itype6": -14, "VerifyPIN.null_out": -14, "ChangePIN.itype-3": -14,
    "ReloadPIN.null_cardinfo": -14, "ReloadPIN.itype8": -14,
    "UnblockPIN.null_cardinfo": -14, "UnblockPIN.cardinfo_not_gbk": -41,
    "HSM_Step2.null_key": -14, "HSM_Step2.without_step1": -23, "HSM_Step1.itype0": -14,
    "Reload_HSM_Step1.null_cardinfo": -14, "Reload_HSM_Step2.without_step1": -23, "Reload_HSM_Step3.null_key": -14,
    "ReadPhoto.itype9": -14, "ReadPhoto.null_out": -14,
    "GetReaderInfo.null_sn": -14, "GetReaderInfo.null_term": -14,
    "ReadCardBas.after": 0,
}


@pytest.fixture
def harness(compile_c) -> Path:
    return compile_c(HARNESS, "-ldl", "-lpthread")


def test_bad_inputs_get_the_interfaces_codes(harness, lib_env, tmp_path):
    done = run([harness, "bad-inputs"], lib_env, tmp_path)
    assert done.returncode == 0, done.stderr
    got = dict(line.rsplit(" ", 1) for line in done.stdout.decode().splitlines())
    assert {k: int(v) for k, v in got.items()} == BAD_INPUTS


def test_threads_of_the_host_call_at_once(harness, lib_env, tmp_path):
    done = run([harness, "threads", "6", "15"], lib_env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.decode("gbk")
    assert out.startswith("ok 440100|440106198503127719|A44010001|") and "陈晓明" in out


@pytest.mark.parametrize("answers, expect", [
    (["123456"], "0 "),
    (["111111"], "-51 2|wrong PIN, 2 tries left|"),
    (["cancel"], "-31 "),
    (["timeout"], "-32 "),
    (["12345"], "-33 "),
    (["12a456"], "-41 "),
    (["reenter"], "inner -23\n-31 "),
])
def test_pin_callback(harness, lib_env, tmp_path, answers, expect):
    done = run([harness, "pin", *answers], lib_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode("gbk").startswith(expect)
    assert done.stderr.decode().splitlines() == ["prompt 1"]        # SSCARD_PIN_CURRENT, asked once


def _ex(harness, env, cwd, size: int) -> tuple[str, str, str]:
    lines = run([harness, "ex", str(size)], env, cwd).stdout.decode("gbk").splitlines()
    code, _, text = lines[0].partition(" ")
    return code, text, lines[-1]


def test_ex_refuses_an_output_longer_than_the_buffer_and_writes_nothing_past_it(harness, lib_env, tmp_path):
    code, full, guard = _ex(harness, lib_env, tmp_path, 1024)
    assert code == "0" and guard == "guard ok"
    need = len(full.encode("gbk")) + 1
    assert _ex(harness, lib_env, tmp_path, need) == ("0", full, "guard ok")        # exactly enough
    for size in (1, 2, 20, 80, need - 1):
        code, text, guard = _ex(harness, lib_env, tmp_path, size)
        assert (code, guard) == ("-42", "guard ok")
        assert len(text.encode("gbk")) <= size - 1 and (size < 2 or text.endswith("|"))
        if size >= 80:
            assert text == f"{need}|the output needs {need} bytes with its NUL, the buffer holds {size}|"


def test_without_a_callback_or_terminal_pin_entry_is_refused_at_once(harness, lib_env, tmp_path):
    done = run([harness, "verify"], lib_env, tmp_path, timeout=60)
    assert done.stdout.decode("gbk").startswith("-31 no PIN entry: register a PIN callback")


def test_without_a_callback_the_pin_is_asked_on_the_controlling_terminal(harness, lib_env, tmp_path):
    """A console program (a terminal session, no callback) gets the prompt on its terminal, as `sscard pin` does."""
    pid, fd = pty.fork()             # the child: a new session with the pty as its controlling terminal
    if pid == 0:
        os.chdir(tmp_path)
        os.execve(str(harness), [str(harness), "verify"], lib_env)
    seen = _read_until(fd, b"PIN: ")
    assert "请输入密码".encode() in seen           # the prompt of host/standard/pinpad.py
    os.write(fd, b"123456\n")
    rest = _read_until(fd, b"\n0 \r\n", eof_ok=True)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert rest.endswith(b"0 \r\n"), rest


def _read_until(fd: int, end: bytes, eof_ok: bool = False, timeout: float = 60) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while not data.endswith(end):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no {end!r} from the pty: {data!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:              # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            assert eof_ok, data
            break
        data += chunk
    return data


def test_bad_inputs_and_small_buffers_under_address_sanitizer(native_lib, lib_env, tmp_path):
    """The library and the harness built with -fsanitize=address,undefined: no invalid access, no undefined
    behaviour on any bad input, on a buffer of any size, or from threads."""
    asan = tmp_path / "asan"
    done = subprocess.run(["bash", str(ROOT / "scripts" / "build-lib.sh")], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, SSCARD_BUILD_DIR=str(asan),
                                   EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer"),
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    exe = asan / "harness"
    done = subprocess.run(["gcc", "-g", "-fsanitize=address,undefined", "-I", str(asan), "-o", str(exe), str(HARNESS),
                           "-ldl", "-lpthread"], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    env = dict(lib_env, SSCARD_LIB=str(asan / "libsscard.so"), ASAN_OPTIONS="detect_leaks=0:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1")
    for args in (["bad-inputs"], ["threads", "3", "4"], ["pin", "reenter"], ["pin", "111111"], ["ex", "2"],
                 ["ex", "30"], ["ex", "1024"]):
        done = run([exe, *args], env, tmp_path)
        log = done.stderr.decode("utf-8", "replace")
        assert done.returncode == 0 and "ERROR: AddressSanitizer" not in log and "runtime error" not in log, log
