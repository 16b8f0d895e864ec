"""One card image served by several processes at once: each command holds the image's lock, and a process
takes up what another one wrote before it answers (firmware_sim.image.ImageStore, firmware_sim.device).

Real processes throughout: ``sscard serve`` and ``sscard pin`` on one file, and a CLI process that has to wait
for a lock another process holds.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from websockets.sync.client import connect

from firmware_sim.card_os import CardOS
from firmware_sim.image import load_card
from firmware_sim.issuance.personalise import write_new_card, write_new_psam
from firmware_sim.psam import PsamOS
from tests.support import cardkit as ck
from tests.support.cli import ROOT, SSCARD, run

PERSON = {"name": "共享", "ssn": "440106199001011235", "card_number": "S44030001"}
WRONG_PIN = "000000"


def gen3_card(tmp: Path) -> Path:
    """A gen3 card: reading its basic information authenticates externally, which writes the image."""
    path = tmp / "c.json"
    write_new_card(path, PERSON, profile="gen3", region="440300", serial=77)
    return path


@contextmanager
def bridge(spec: str) -> Iterator[str]:
    """``sscard serve`` in its own process (its own config folder, so its own token); yields its ws:// URL
    with the token."""
    config = tempfile.mkdtemp(prefix="sscard-cfg-")
    env = dict(os.environ, XDG_CONFIG_HOME=config)
    proc = subprocess.Popen(SSCARD + ["serve", "--port", "0", "--no-page", "-r", spec], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"ws://127\.0\.0\.1:\d+/", line)
        assert match, line + (proc.stderr.read() if proc.stderr else "")
        token = (Path(config) / "sscard" / "bridge-token").read_text().strip()
        yield f"{match.group(0)}?token={token}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def read_basic_info(url: str) -> dict[str, object]:
    with connect(url) as ws:
        ws.send(json.dumps({"function": "iReadCardBas", "iType": 3}))
        return json.loads(ws.recv(timeout=30))


def test_a_bridge_request_never_writes_back_a_pin_another_process_blocked(tmp_path: Path) -> None:
    path = gen3_card(tmp_path)
    with bridge(f"sim:{path}") as url:
        assert read_basic_info(url)["code"] == 0             # the bridge's card is up and has written the image
        for _ in range(3):
            out = run("pin", "verify", "--reader", f"sim:{path}", "--pin", WRONG_PIN)
            assert out.returncode == 5, out.stderr
        assert load_card(path).pin_tries_left == 0
        assert read_basic_info(url)["code"] == 0             # external authentication: the bridge writes
        assert load_card(path).pin_tries_left == 0            # ... the blocked PIN, not its old copy
    out = run("pin", "verify", "--reader", f"sim:{path}", "--pin", ck.PIN)
    assert out.returncode == 5 and "block" in out.stderr.lower(), out.stderr


def _waits_for_lock(pid: int, lock: Path) -> bool:
    """Whether process ``pid`` is blocked on a flock of ``lock`` (a ``->`` line of /proc/locks)."""
    inode = f":{lock.stat().st_ino} "
    return any(ln.split()[1] == "->" and ln.split()[5] == str(pid) and inode in ln
               for ln in Path("/proc/locks").read_text().splitlines() if len(ln.split()) > 6)


def test_a_command_waits_for_the_process_holding_the_image_and_sees_its_writes(tmp_path: Path) -> None:
    path = ck.write_image(tmp_path / "card.json")
    mine = CardOS.from_file(path)
    mine.power_on()
    mine.process(ck.SELECT_SSSE)
    with mine.store.locked():                                  # this process is in the middle of a command
        child = subprocess.Popen(SSCARD + ["pin", "verify", "--reader", f"sim:{path}", "--pin", WRONG_PIN],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60                   # a guard against a hang, not a measurement
            while not _waits_for_lock(child.pid, mine.store.lock_path):  # type: ignore[arg-type]  # a store with a path has a lock path
                assert child.poll() is None, f"the CLI used the image while it was locked: {child.communicate()}"
                assert time.monotonic() < deadline, "the CLI neither waited for the lock nor finished"
                time.sleep(0.01)
            assert ck.sw(mine.process(ck.verify(WRONG_PIN))) == 0x63C2
            assert ck.sw(mine.process(ck.verify(WRONG_PIN))) == 0x63C1
        except BaseException:
            child.kill()
            raise
    out, err = child.communicate(timeout=60)
    assert child.returncode == 5 and "block" in err.lower(), err   # its wrong PIN was the third
    assert load_card(path).pin_tries_left == 0
    assert ck.sw(mine.process(ck.verify(ck.PIN))) == 0x6983        # and this process sees that in turn


def test_a_device_takes_up_an_image_replaced_under_it(tmp_path: Path) -> None:
    path = ck.write_image(tmp_path / "card.json")
    first, second = CardOS.from_file(path), CardOS.from_file(path)
    for cos in (first, second):
        cos.power_on()
        cos.process(ck.SELECT_SSSE)
    assert ck.sw(first.process(ck.verify(WRONG_PIN))) == 0x63C2
    assert ck.sw(second.process(ck.verify(WRONG_PIN))) == 0x63C1
    assert ck.sw(first.process(ck.verify(ck.PIN))) == 0x9000
    assert ck.sw(second.process(ck.verify(WRONG_PIN))) == 0x63C2   # it saw the reset counter
    assert load_card(path).pin_tries_left == 2


def test_an_image_broken_by_another_writer_answers_6581_and_is_left_alone(tmp_path: Path) -> None:
    path = ck.write_image(tmp_path / "card.json")
    cos = CardOS.from_file(path)
    cos.power_on()
    assert ck.sw(cos.process(ck.SELECT_SSSE)) >> 8 == 0x61
    original = path.read_text(encoding="utf-8")
    path.write_text("{ not an image", encoding="utf-8")
    assert ck.sw(cos.process(ck.verify(WRONG_PIN))) == 0x6581
    assert path.read_text(encoding="utf-8") == "{ not an image"
    path.write_text(original, encoding="utf-8")                 # mended: the card works on
    assert ck.sw(cos.process(ck.verify(WRONG_PIN))) == 0x63C2


def test_the_psam_takes_up_a_rewritten_image(tmp_path: Path) -> None:
    path = tmp_path / "psam.json"
    write_new_psam(path, "440100", "440100000001")
    psam = PsamOS.from_file(path)
    psam.power_on()
    read_terminal = bytes.fromhex("00B0960006")
    assert psam.process(read_terminal).hex().upper() == "4401000000019000"
    write_new_psam(path, "440100", "440100000002")
    assert psam.process(read_terminal).hex().upper() == "4401000000029000"
