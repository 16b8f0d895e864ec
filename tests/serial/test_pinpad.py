"""The PIN pad with real parts (docs/serial.md §5): pcscd with Debian's ``libccidtwin.so`` opens the simulated GemPC
PinPad on a pty (the PSAM in a simulated GemCore SIM Pro on another), a scripted holder types on its keypad, and
pyscard's SCardControl path (FEATURE_VERIFY_PIN_DIRECT / FEATURE_MODIFY_PIN_DIRECT) verifies and changes the PIN:
right PIN 9000, wrong PIN 63C2 and the try counted on the card, Cancel -31, no key -32, two new PINs that differ
-34; in T=0 and in T=1. The same through sscard's own ``ccid-serial:`` driver, and iVerifyPIN through
``sscard emulate --pinpad`` + ``sscard serve`` with the PIN typed on the pad's socket.

The daemon is the process's shared private pcscd (``tests.support.pcscd``), as in test_libccid_peer.py.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_psam
from firmware_sim.iso7816_card import LinkProfile
from firmware_sim.psam import PsamOS
from hardware import keypad as K
from hardware.ccid_serial import CcidSerialSlot
from hardware.pinpad_serve import PinPadBench, serve_pinpad
from host.spec import open_terminal
from host.errors import WrongPin
from host.standard import SSCardDriver
from host.trace import Tracer
from protocols import pinpad as P

from tests.serial.conftest import card_image
from tests.support.pcscd import CCID_TWIN_DRIVER, missing_requirements, reader_entry, shared, slot_names
from tests.support.prereq import missing

PROFILES = {"t0": LinkProfile.t0_only(0x96), "t1": LinkProfile.t1(0x96)}
CARD_TIMEOUT = 15.0
KEYS_LIMIT = 30.0


@dataclass
class Bench:
    bench: PinPadBench
    card: CardOS
    card_name: str = ""
    psam_name: str = ""

    @property
    def keypad(self) -> K.Keypad:
        return self.bench.keypad

    @property
    def pcsc_spec(self) -> str:
        return f"pcsc:{self.card_name},psam={self.psam_name}"


def make_bench(tmp: Path, tag: str) -> Bench:
    card = CardOS.from_file(card_image(tmp, "gen2"))
    bench = serve_pinpad(card, PsamOS(demo_psam("440100")), str(tmp / "ttyPinPad"), str(tmp / "ttyPsam"),
                         card_profile=PROFILES[tag])
    return Bench(bench, card)


def typing(keypad: K.Keypad, script: str) -> threading.Thread:
    """The holder types ``script`` into the pad's next prompts (on a thread, as a person would meanwhile)."""
    thread = threading.Thread(target=K.play, args=(keypad, P.parse_keys(script)),
                              kwargs={"prompt_timeout": KEYS_LIMIT}, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def pads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Bench]]:
    reason = missing_requirements(CCID_TWIN_DRIVER)
    if reason:
        missing(reason)
    from hardware.pcsc import PcscReader, list_readers
    daemon = shared()
    benches: dict[str, Bench] = {}
    mine: list[str] = []
    try:
        for tag in PROFILES:
            b = make_bench(tmp_path_factory.mktemp(f"pinpad-{tag}"), tag)
            benches[tag] = b
            mine.append(reader_entry(f"sscard pinpad {tag}", f"{b.bench.pad.url}:GemPCPinPad", CCID_TWIN_DRIVER))
            assert b.bench.psam is not None
            mine.append(reader_entry(f"sscard pinpad psam {tag}", f"{b.bench.psam.url}:GemCoreSIMPro",
                                     CCID_TWIN_DRIVER))
        daemon.ensure(mine)
        names = list_readers()
        for tag, b in benches.items():
            pad_slots = slot_names(names, f"sscard pinpad {tag}")
            psam_slots = slot_names(names, f"sscard pinpad psam {tag}")
            assert len(pad_slots) == 1 and len(psam_slots) == 2, f"{names}\n{daemon.log_tail()}"   # one slot; SAM
            b.card_name, b.psam_name = pad_slots[0], psam_slots[1]
            for reader in (b.card_name, b.psam_name):
                with PcscReader(reader) as probe:
                    assert probe.wait_for_card(CARD_TIMEOUT), f"pcscd sees no card in {reader}"
        yield benches
    finally:
        for b in benches.values():
            b.bench.close()
        daemon.withdraw(mine)                                  # leave the shared daemon without our dead ptys


# --- PC/SC: libccid drives the pad ----------------------------------------------------------------------------------
def test_libccid_offers_the_pad_features(pads: dict[str, Bench]):
    from hardware.pcsc import PcscReader
    b = pads["t0"]
    with PcscReader(b.card_name) as reader:
        features = reader.features()
        assert {P.FEATURE_VERIFY_PIN_DIRECT, P.FEATURE_MODIFY_PIN_DIRECT} <= set(features)
        assert reader.pin_pad() is not None
    with PcscReader(b.psam_name) as psam:
        assert psam.pin_pad() is None                                  # a GemCore SIM Pro has no pad


@pytest.mark.parametrize("tag", list(PROFILES))
def test_scardcontrol_verify_right_and_wrong(pads: dict[str, Bench], tag: str):
    from hardware.pcsc import PcscReader
    b = pads[tag]
    with PcscReader(b.card_name) as reader:
        reader.connect()
        reader.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF"))
        pad = reader.pin_pad()
        assert pad is not None
        request = P.verify_request(6, 6, 20)
        t = typing(b.keypad, "111111 OK")
        assert pad.verify(request) == bytes.fromhex("63C2")          # the card's answer, through SCardControl
        t.join()
        assert b.card.image.pin_tries_left == 2                       # the try counted on the card
        t = typing(b.keypad, "12 BS 23456 OK")
        assert pad.verify(request) == bytes.fromhex("9000")
        t.join()
        assert b.card.image.pin_tries_left == 3


@pytest.mark.parametrize("tag", list(PROFILES))
def test_interface_over_libccid_cancel_timeout_change(pads: dict[str, Bench], tag: str):
    b = pads[tag]
    driver = SSCardDriver(open_terminal(b.pcsc_spec), pin_timeout=1)
    try:
        t = typing(b.keypad, "12 CANCEL")
        assert driver.iVerifyPIN(1)[0] == -31
        t.join()
        assert driver.iVerifyPIN(1)[0] == -32                         # nobody types: the pad's 1 s run out
        assert b.card.image.pin_tries_left == 3                       # neither reached the card
        assert driver.iReadCardBas(1)[0] == 0                         # T=1 sequence numbers still agree
        driver.pin_timeout = 20
        t = typing(b.keypad, "123456 OK 246810 OK 246811 OK")
        assert driver.iChangePIN(1)[0] == -34
        t.join()
        t = typing(b.keypad, "123456 OK 246810 OK 246810 OK")
        assert driver.iChangePIN(1) == (0, "")
        t.join()
        assert b.card.image.pin == "246810"
        t = typing(b.keypad, "246810 OK 123456 OK 123456 OK")
        assert driver.iChangePIN(1) == (0, "")                        # back, for the other tests
        t.join()
        t = typing(b.keypad, "123456 OK")
        assert driver.iVerifyPIN(1) == (0, "")
        t.join()
    finally:
        driver.close()


def test_traces_show_the_template_and_no_pin(pads: dict[str, Bench]):
    b = pads["t0"]
    tracer = Tracer(keep=True)
    term = open_terminal(b.pcsc_spec, trace=tracer)
    try:
        t = typing(b.keypad, "123456 OK")
        term.verify_pin(timeout=20)
        t.join()
    finally:
        term.close()
    pad_entries = [e for e in tracer.records if "pin" in e]
    assert len(pad_entries) == 1
    entry = pad_entries[0]
    assert entry["cmd_name"] == "VERIFY (PIN pad)" and entry["cmd"] == "0020000000" and entry["sw"] == "9000"
    assert "never sees" in str(entry["pin"])
    assert "123456" not in json.dumps(tracer.records)


# --- our own driver on the same firmware ---------------------------------------------------------------------------------
@pytest.mark.parametrize("tag", list(PROFILES))
def test_our_ccid_serial_driver_sends_pc_to_rdr_secure(tmp_path: Path, tag: str):
    b = make_bench(tmp_path, tag)
    term = open_terminal(b.bench.spec)
    try:
        pad = term.pin_pad()
        assert pad is not None and isinstance(term.psam_reader, CcidSerialSlot) and term.psam_reader.pin_pad() is None
        t = typing(b.keypad, "111111 OK")
        with pytest.raises(WrongPin, match="2 tries left"):
            term.verify_pin(timeout=20)
        t.join()
        assert b.card.image.pin_tries_left == 2
        t = typing(b.keypad, "123456 OK")
        term.verify_pin(timeout=20)
        t.join()
        assert b.card.image.pin_tries_left == 3
        driver = SSCardDriver(term, pin_timeout=1)
        t = typing(b.keypad, "1 CANCEL")
        assert driver.iVerifyPIN(1)[0] == -31
        t.join()
        assert driver.iVerifyPIN(1)[0] == -32
        t = typing(b.keypad, "123 OK")
        assert driver.iVerifyPIN(1)[0] == -33                         # 6403: fewer digits than the 6 asked
        t.join()
        assert driver.iReadCardBas(1)[0] == 0
        driver.pin_timeout = 20
        t = typing(b.keypad, "123456 OK 135790 OK 135790 OK")
        assert driver.iChangePIN(1) == (0, "")
        t.join()
        assert b.card.image.pin == "135790"
        assert b.bench.pad.firmware.stats["pin_entries"] == 6        # type: ignore[attr-defined]
    finally:
        term.close()
        b.bench.close()


# --- sscard emulate --pinpad + sscard serve: the page is told to look at the pad ----------------------------------
def test_verify_through_the_bridge_with_the_pin_typed_on_the_pad(tmp_path: Path):
    from websockets.sync.client import connect
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    pad, sock = str(tmp_path / "ttyPad"), str(tmp_path / "keypad.sock")
    emulator = subprocess.Popen([sys.executable, "-m", "host.cli", "emulate", "--serial-pty", pad, "--pinpad",
                                 "--keypad-socket", sock], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, start_new_session=True)
    bridge = None
    assert emulator.stderr is not None
    try:
        spec = None
        for _ in range(20):
            line = emulator.stderr.readline()
            m = re.search(r"--reader (\S+)", line)
            if m:
                spec = m.group(1)
            if "keypad:" in line:
                break
        assert spec == f"ccid-serial:{pad},model=GemPCPinPad,psam={pad}-psam", spec
        bridge = subprocess.Popen([sys.executable, "-m", "host.cli", "serve", "--port", "0", "-r", spec,
                                   "--pin-timeout", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env, start_new_session=True)
        assert bridge.stdout is not None and bridge.stderr is not None
        line = bridge.stdout.readline()
        match = re.search(r"ws://127\.0\.0\.1:\d+/", line)
        assert match, line + bridge.stderr.read()
        url = f"{match.group(0)}?token={(tmp_path / 'sscard' / 'bridge-token').read_text().strip()}"
        with connect(url) as page:
            page.send(json.dumps({"function": "iVerifyPIN", "iType": 1, "id": "v1"}))
            note = json.loads(page.recv(timeout=30))
            assert note["type"] == "pin-pad" and note["request"] == "v1" and note["prompt"] == "current"
            assert K.send(sock, {"keys": "123456 OK", "wait": 20}) == {"ok": True}
            assert json.loads(page.recv(timeout=30)) == {"code": 0, "output": "", "function": "iVerifyPIN", "id": "v1"}
            page.send(json.dumps({"function": "iVerifyPIN", "iType": 1, "id": "v2"}))
            assert json.loads(page.recv(timeout=30))["type"] == "pin-pad"
            status = K.send(sock, {"wait": 20})
            assert status["entry"] and status["prompt"] == "current" and status["digits"] == 0
            assert K.send(sock, {"keys": "111111 OK", "wait": 20}) == {"ok": True}
            wrong = json.loads(page.recv(timeout=30))
            assert (wrong["code"], wrong["output"].split("|")[0]) == (-51, "2")
    finally:
        for proc in (bridge, emulator):
            if proc is not None:
                proc.send_signal(signal.SIGINT if proc is bridge else signal.SIGTERM)
        outs = [proc.communicate(timeout=30) for proc in (bridge, emulator) if proc is not None]
    assert not any("123456" in out + err or "111111" in out + err for out, err in outs)   # no PIN anywhere
    assert not Path(sock).exists() and not Path(pad).exists()
