"""hardware.pcscd (through tests.support.pcscd): the private daemon is reachable, restartable, and leaves the host alone."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hardware import pcscd as pcscd_module
from hardware.vpcd_link import VpcdLink
from tests.support.devices import EchoDevice
from tests.support.pcscd import (
    CCID_TWIN_DRIVER, PrivatePcscd, free_port_block, listening_ports, missing_requirements, reader_entry, slot_names,
    vpcd_entry, vpcd_ports,
)
from tests.support.prereq import missing

from .conftest import VpcdBench

pytestmark = pytest.mark.pcsc


def run_dir_state() -> list[str] | None:
    path = Path("/run/pcscd")
    return sorted(os.listdir(path)) if path.is_dir() else None


def test_entries_are_plain_reader_conf() -> None:
    entry = vpcd_entry(0x5000, "x")
    assert entry.splitlines() == [
        'FRIENDLYNAME "x"', "DEVICENAME /dev/null:0x5000",
        "LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so", "CHANNELID 0x5000",
    ]
    assert vpcd_ports(entry) == [0x5000, 0x5001]
    twin = reader_entry("GemPC Twin", "/dev/pts/7:GemPCTwin", CCID_TWIN_DRIVER)
    assert "LIBPATH /usr/lib/pcsc/drivers/serial/libccidtwin.so" in twin and vpcd_ports(twin) == []
    names = ["x 00 00", "sscard x 01 01", "x 01 01", "x 01 00", "x 01 00 more"]
    assert slot_names(names, "x") == ["x 00 00", "x 01 00", "x 01 01"]


def test_shared_daemon_socket_and_env(pcscd_vpcd: VpcdBench) -> None:
    daemon = pcscd_vpcd.daemon
    assert os.environ["PCSCLITE_CSOCK_NAME"] == daemon.socket_path == daemon.env["PCSCLITE_CSOCK_NAME"]
    assert daemon.socket_path != "/run/pcscd/pcscd.comm"
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(daemon.socket_path)
    assert {pcscd_vpcd.port, pcscd_vpcd.port + 1} <= listening_ports()


def test_second_private_daemon_restart_and_cleanup(pcscd_vpcd: VpcdBench, tmp_path: Path) -> None:
    """A second instance runs beside the shared one; restart keeps the socket; stop leaves nothing."""
    before = run_dir_state()
    with PrivatePcscd(tmp_path / "d") as daemon:
        daemon.start([])
        first_pid = daemon.pid
        assert Path(daemon.socket_path).is_socket()
        scan = subprocess.run(["pcsc_scan", "-r"], capture_output=True, text=True, timeout=20, env=daemon.client_env())
        assert "sscard vpcd" not in scan.stdout  # it is a different daemon from the shared one
        daemon.restart()
        assert daemon.running and daemon.pid != first_pid
        assert Path(daemon.socket_path).is_socket()
        pid = daemon.pid
        with pytest.raises(RuntimeError, match="already running"):
            daemon.start([])
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not (tmp_path / "d").exists()
    assert run_dir_state() == before  # the system's /run/pcscd is untouched (or still absent)
    assert pcscd_vpcd.daemon.running


def test_start_failure_is_reported_not_hung(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcscd_module, "PCSCD", "/bin/false")
    daemon = PrivatePcscd(tmp_path, start_timeout=5)
    with pytest.raises(RuntimeError, match="exited early"):
        daemon.start([])
    assert not daemon.running
    daemon.cleanup()


def test_two_vpcd_entries_do_not_share_slots(pcscd_vpcd: VpcdBench, tmp_path: Path) -> None:
    """Debian's vpcd keeps slot sockets in one static array per loaded driver; without a private copy
    of the driver for the second entry, both entries' "… 00 00" readers would show the second card."""
    if shutil.which("opensc-tool") is None:
        missing("opensc-tool not installed (Debian package opensc)")
    first, second = free_port_block(), free_port_block()
    atrs = {"first": bytes.fromhex("3B00AA"), "second": bytes.fromhex("3B00BB")}
    with PrivatePcscd(tmp_path / "d") as daemon:
        daemon.start([vpcd_entry(first, "first"), vpcd_entry(second, "second")])
        env = daemon.client_env()
        links = [VpcdLink(EchoDevice(atrs["first"]), port=first).start(),
                 VpcdLink(EchoDevice(atrs["second"]), port=second).start()]
        try:
            listing = subprocess.run(["opensc-tool", "-l"], capture_output=True, text=True, timeout=20, env=env).stdout
            names = [line.split(None, 1)[1].split("  ")[-1].strip() for line in listing.splitlines()
                     if line[:1].isdigit()]
            seen = {}
            for friendly in atrs:
                index = next(i for i, n in enumerate(names) if n.startswith(friendly) and n.endswith(" 00"))
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:  # pcscd notices the card at its next presence poll
                    out = subprocess.run(["opensc-tool", "-r", str(index), "-a"], capture_output=True,
                                         text=True, timeout=20, env=env)
                    if out.returncode == 0:
                        seen[friendly] = bytes.fromhex(out.stdout.strip().replace(":", ""))
                        break
                    time.sleep(0.2)
            assert seen == atrs
        finally:
            for link in links:
                link.stop()


def test_bench_pcscd_serves_devices_from_a_child_process() -> None:
    """``BenchPcscd``, run by benchmarks/purse.py in a process of its own (one private pcscd per client
    process): the debit over PC/SC goes through its reader to the emulator in the child process."""
    reason = missing_requirements()
    if reason:
        missing(reason)
    purse = Path(__file__).resolve().parents[2] / "benchmarks" / "purse.py"
    done = subprocess.run([sys.executable, str(purse), "--debits", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "PC/SC (vpcd, T=0), in memory" in done.stdout and "skipped" not in done.stdout
