"""Fault injection from ``sscard emulate``: a real emulator process on a pty, a real client."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from firmware_sim.image import load_card
from firmware_sim.issuance.personalise import write_new_card
from tests.support.cli import ROOT, SSCARD, run

PERSON = {"name": "故障", "ssn": "440106199001011235", "card_number": "F44010001"}


@contextmanager
def emulator(tmp: Path, *args: str) -> Iterator[str]:
    link = tmp / "tty"
    proc = subprocess.Popen(SSCARD + ["emulate", "--serial-pty", str(link), *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not link.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the emulator did not create its pty"
            time.sleep(0.05)
        yield f"ccid-serial:{link}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def card(tmp: Path) -> Path:
    path = tmp / "card.json"
    write_new_card(path, PERSON, profile="gen2", region="440100", serial=42)
    return path


def test_card_removed_at_a_chosen_command(tmp_path: Path) -> None:
    with emulator(tmp_path, "--card", str(card(tmp_path)), "--remove-at", "3") as spec:
        out = run("read", "--reader", spec)
    assert out.returncode == 3, out.stderr            # no card: a typed reader error, not wrong data
    assert "card" in out.stderr.lower()


def test_forced_status_word(tmp_path: Path) -> None:
    with emulator(tmp_path, "--card", str(card(tmp_path)), "--force-sw", "B2:6581") as spec:
        out = run("read", "--reader", spec, "--no-auth")
    assert out.returncode == 1 and "6581" in out.stderr


def test_power_lost_in_the_middle_of_a_write_keeps_the_image(tmp_path: Path) -> None:
    path = card(tmp_path)
    before = json.loads(path.read_text())
    with emulator(tmp_path, "--card", str(path), "--tear-at", "1") as spec:
        out = run("pin", "verify", "--reader", spec, "--pin", "000000")
    assert out.returncode == 3, out.stderr             # the card went dead mid-command
    assert json.loads(path.read_text()) == before      # old image, whole and valid
    assert load_card(path).pin_tries_left == 3
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) <= 1                          # at most the torn temp file, never the image


def test_bad_fault_arguments(tmp_path: Path) -> None:
    out = run("emulate", "--serial-pty", str(tmp_path / "t"), "--force-sw", "B2-6581")
    assert out.returncode == 2 and "INS:SW" in out.stderr
    out = run("emulate", "--serial-pty", str(tmp_path / "t"), "--tear-at", "1")
    assert out.returncode == 2 and "--tear-at needs a card image" in out.stderr
    assert not os.path.exists(tmp_path / "t")


def test_vpcd_refuses_a_remote_host_unless_allowed() -> None:
    out = run("emulate", "--vpcd", "10.1.2.3:35963")
    assert out.returncode == 2 and "--allow-remote" in out.stderr and "serving" not in out.stderr


def test_slow_card_asks_for_waiting_time_and_the_host_grants_it(tmp_path: Path) -> None:
    """In-process pty: a slow T=1 card sends S(WTX request) before each answer; the read still succeeds."""
    from firmware_sim.card_os import CardOS
    from firmware_sim.demo import demo_psam
    from firmware_sim.device_faults import FaultyDevice
    from firmware_sim.iso7816_card import LinkProfile
    from firmware_sim.psam import PsamOS
    from hardware.serial_serve import serve_pty
    from host.spec import open_terminal
    slow = FaultyDevice(CardOS.from_file(card(tmp_path)), slow_wtx=2, delay=0.01)
    server = serve_pty(slow, PsamOS(demo_psam("440100")), None, card_profile=LinkProfile.t1(0x96))
    seen: list[bytes] = []
    real_receive = server.firmware.receive

    def spy(data: bytes) -> bytes:
        out = real_receive(data)
        seen.append(out)
        return out
    server.firmware.receive = spy  # type: ignore[method-assign]  # a spy around the firmware's receive
    try:
        term = open_terminal(f"ccid-serial:{server.url}")
        try:
            assert term.read_basic_info().name == "故障"
        finally:
            term.close()
    finally:
        server.close()
    assert any(bytes.fromhex("00C30102") in frame for frame in seen)   # S(WTX request, 2) went to the host
