"""Unmodified PC/SC programs (pcsc-tools' scriptor, OpenSC's opensc-tool) use the emulated card."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest

from hardware.pcsc import list_readers
from hardware.vpcd_link import VpcdLink
from tests.support.devices import EchoDevice
from tests.support.prereq import missing

from .conftest import VpcdBench

pytestmark = pytest.mark.pcsc

Serve = Callable[..., VpcdLink]
TOOL_TIMEOUT = 30
PACKAGES = {"scriptor": "pcsc-tools", "opensc-tool": "opensc"}   # the Debian package of each tool


def run(args: list[str], bench: VpcdBench, stdin: str = "") -> subprocess.CompletedProcess[str]:
    if shutil.which(args[0]) is None:
        missing(f"{args[0]} not installed (Debian package {PACKAGES[args[0]]})")
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                          env=bench.daemon.client_env())


def test_scriptor_sends_apdus(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    device = EchoDevice()
    serve(device)
    out = run(["scriptor", "-r", pcscd_vpcd.card_reader], pcscd_vpcd, "00 A4 00 00 02 EF 05\n00 B2 07 2C 0B\n")
    assert out.returncode == 0, out.stderr
    assert "< EF 05 90 00" in out.stdout
    assert "< 00 01 02 03 04 05 06 07 08 09 0A 90 00" in out.stdout
    assert device.seen == [bytes.fromhex("00A4000002EF05"), bytes.fromhex("00B2072C0B")]


def test_opensc_tool_lists_and_sends(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    device = EchoDevice()
    serve(device)
    listing = run(["opensc-tool", "-l"], pcscd_vpcd)
    assert pcscd_vpcd.card_reader in listing.stdout, listing.stdout + listing.stderr
    index = str(list_readers().index(pcscd_vpcd.card_reader))
    # -c default: OpenSC's generic driver, so no driver probing APDUs precede ours (OpenSC #2369).
    out = run(["opensc-tool", "-r", index, "-c", "default", "-s", "00A4000002EF05", "-s", "0084000004"], pcscd_vpcd)
    assert out.returncode == 0, out.stderr
    assert "SW1=0x90, SW2=0x00" in out.stdout
    assert "00 01 02 03" in out.stdout
    assert bytes.fromhex("00A4000002EF05") in device.seen and bytes.fromhex("0084000004") in device.seen
