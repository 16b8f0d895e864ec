"""The bench tools: ``sscard readers`` (every PC/SC slot with its card present or absent and the ATR; a clear
message when no pcscd answers) and ``sscard pcscd`` (a private pcscd with vpcd readers, the emulator's card and a
serial CCID reader, used from other processes through the socket it prints, stopped by SIGINT without leaving
a process or its folder behind)."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from hardware.inprocess import sim_devices
from hardware.pcscd import CCID_TWIN_DRIVER, missing_requirements
from hardware.serial_serve import serve_pty
from hardware.vpcd_link import VpcdLink
from host import cli
from tests.support.cli import SSCARD
from tests.support.prereq import missing

from .conftest import VpcdBench

pytestmark = pytest.mark.pcsc

START_TIMEOUT = 60.0


def rows(out: str) -> dict[str, dict[str, object]]:
    """``sscard readers --json`` output by reader name (PC/SC), "default" (the default reader) or spec (the rest)."""
    found = {}
    for line in out.splitlines():
        row = json.loads(line)
        key = {"pcsc": row["name"], "default": "default"}.get(row["kind"], row["spec"])
        found[key] = row
    return found


# --- sscard readers ---------------------------------------------------------------------------------------
def test_readers_shows_each_slot_with_card_present_or_absent_and_the_atr(
        pcscd_vpcd: VpcdBench, serve: Callable[..., VpcdLink], capsys: pytest.CaptureFixture[str]) -> None:
    card, _psam = sim_devices()
    assert isinstance(card, CardOS)
    serve(card, slot=0)
    assert cli.main(["readers"]) == 0
    table = capsys.readouterr().out
    lines = {name: next(ln for ln in table.splitlines() if f" {name} " in ln)
             for name in (pcscd_vpcd.card_reader, pcscd_vpcd.psam_reader)}
    atr = " ".join(f"{b:02X}" for b in card.atr)
    assert "card present" in lines[pcscd_vpcd.card_reader] and lines[pcscd_vpcd.card_reader].endswith(f"ATR {atr}")
    assert "no card" in lines[pcscd_vpcd.psam_reader] and "ATR" not in lines[pcscd_vpcd.psam_reader]
    assert f"pcscd at {pcscd_vpcd.daemon.socket_path}" in table

    assert cli.main(["readers", "--json"]) == 0
    found = rows(capsys.readouterr().out)
    card_row, psam_row = found[pcscd_vpcd.card_reader], found[pcscd_vpcd.psam_reader]
    assert (card_row["card"], card_row["atr"]) == (True, card.atr.hex().upper())
    assert (psam_row["card"], psam_row["atr"]) == (False, "")
    from hardware.pcsc import list_readers
    assert card_row["spec"] == f"pcsc:{list_readers().index(pcscd_vpcd.card_reader)}"   # pcsc:N opens this slot
    assert found["sim"]["kind"] == "sim" and "sim:shenzhen-gen3" in found


def test_readers_without_a_pcscd_says_how_to_start_one(tmp_path: Path) -> None:
    env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(tmp_path / "no-pcscd.comm"), XDG_CONFIG_HOME=str(tmp_path))
    done = subprocess.run(SSCARD + ["readers"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert f"cannot reach pcscd at {tmp_path / 'no-pcscd.comm'}" in done.stderr
    assert "sscard pcscd --emulate" in done.stderr and "systemctl start pcscd" in done.stderr
    assert "is the sscard pcscd that printed it still running?" in done.stderr
    assert re.search(r"^  sim +demo card", done.stdout, re.M)        # the other readers are still listed


# --- sscard pcscd --------------------------------------------------------------------------------------------
@dataclass
class Running:
    proc: subprocess.Popen[str]
    out: str            # what it printed up to "Stop with Ctrl-C."
    env: dict[str, str]  # a client's environment: PCSCLITE_CSOCK_NAME from the export line
    pid: int            # pcscd's

    def sscard(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(SSCARD + list(args), capture_output=True, text=True, env=self.env, timeout=60)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture
def sscard_pcscd(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """``start(*options)`` → a running ``sscard pcscd OPTIONS`` (stopped at the end if the test did not)."""
    reason = missing_requirements()
    if reason:
        missing(reason)
    started: list[subprocess.Popen[str]] = []

    def start(*options: str) -> Running:
        env = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}
        proc = subprocess.Popen(SSCARD + ["pcscd", *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, cwd=tmp_path)
        started.append(proc)
        lines: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("Stop with Ctrl-C."):
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        out = "".join(lines)
        assert out.rstrip().endswith("Stop with Ctrl-C."), out + (proc.stderr.read() if proc.poll() is not None
                                                                 and proc.stderr else "")
        export = re.search(r"^export PCSCLITE_CSOCK_NAME=(.+)$", out, re.M)
        pid = re.search(r"a private pcscd \(pid (\d+)\)", out)
        assert export and pid, out
        return Running(proc, out, dict(env, PCSCLITE_CSOCK_NAME=shlex.split(export.group(1))[0]), int(pid.group(1)))

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


def test_sscard_pcscd_with_the_emulator_serves_other_shells_then_stops_cleanly(
        sscard_pcscd: Callable[..., Running]) -> None:
    bench = sscard_pcscd("--emulate", "--vpcd", "2")
    socket_path = Path(bench.env["PCSCLITE_CSOCK_NAME"])
    assert socket_path.is_socket()
    assert re.search(r"pcsc:0 +sscard vpcd 1 00 00 +vpcd port \d+: the emulator's card", bench.out)
    assert re.search(r"pcsc:2 +sscard vpcd 2 00 00 +vpcd port (\d+): empty \(sscard emulate --vpcd \1 ", bench.out)
    assert _children(bench.proc.pid) == {bench.pid}

    listing = bench.sscard("readers", "--json")
    assert listing.returncode == 0, listing.stderr
    found = rows(listing.stdout)
    card, _psam = sim_devices()
    assert (found["sscard vpcd 1 00 00"]["card"], found["sscard vpcd 1 00 00"]["atr"]) == (True, card.atr.hex().upper())
    assert found["sscard vpcd 1 00 01"]["card"] is True                    # the emulator's PSAM
    assert found["sscard vpcd 2 00 00"]["card"] is False
    assert [r["spec"] for r in found.values() if r["kind"] == "pcsc"] == ["pcsc:0", "pcsc:1", "pcsc:2", "pcsc:3"]

    read = bench.sscard("read", "--reader", "pcsc", "--json")
    assert read.returncode == 0, read.stderr
    info = json.loads(read.stdout)
    assert (info["card_number"], info["authenticated"]) == ("A44010001", True)

    assert bench.stop() == 0
    assert "Traceback" not in (bench.proc.stderr.read() if bench.proc.stderr else "")
    assert _gone(bench.pid)
    assert not socket_path.exists() and not socket_path.parent.parent.exists()   # its folder is deleted


def test_sscard_pcscd_runs_a_serial_ccid_reader(sscard_pcscd: Callable[..., Running], tmp_path: Path) -> None:
    if not Path(CCID_TWIN_DRIVER).exists():
        missing(f"{CCID_TWIN_DRIVER} not installed (Debian package libccid)")
    card, psam = sim_devices()
    server = serve_pty(card, psam, str(tmp_path / "ttyBench"))
    try:
        bench = sscard_pcscd("--serial", f"{server.path}:GemCoreSIMPro")
        assert re.search(rf"pcsc:0 +sscard serial 00 00 +{re.escape(str(server.path))} \(GemCoreSIMPro\)", bench.out)
        assert "vpcd" not in bench.out                                   # --serial alone: no vpcd reader
        read = bench.sscard("read", "--reader", "pcsc", "--json")
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout)["card_number"] == "A44010001"
        assert bench.stop() == 0 and _gone(bench.pid)
    finally:
        server.close()


@pytest.mark.parametrize("options, message", [
    (["--emulate", "--vpcd", "0"], "--emulate needs a vpcd reader"),
    (["--serial", "/nonexistent/ttyS9"], "--serial /nonexistent/ttyS9: no device at /nonexistent/ttyS9"),
    (["--vpcd", "0"], "no reader to run"),
    (["--card", "x.json"], "--card and --psam go with --emulate"),
])
def test_sscard_pcscd_bad_options_are_exit_2(options: list[str], message: str, tmp_path: Path) -> None:
    done = subprocess.run(SSCARD + ["pcscd", *options], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert message in done.stderr


def test_sscard_pcscd_refuses_a_taken_port(tmp_path: Path) -> None:
    if missing_requirements():
        missing(str(missing_requirements()))
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(SSCARD + ["pcscd", "--port", str(port)], capture_output=True, text=True, cwd=tmp_path,
                              timeout=60)
    assert done.returncode == 2 and f"port {port} is in use" in done.stderr
