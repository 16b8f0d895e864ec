"""The real thing: an emulator process SIGKILLed at random points while it changes its card image.

After every kill the image must load and be exactly the last image the process reported writing (old) or
the one it was writing (new) — never a mixture; every wrong-PIN answer must have been preceded by the write
of its decremented try counter, so killing the card never gives a try back (docs/design.md §3 PIN, §4).
SIGKILL ends the process, not the machine: the page cache survives, so this checks the write protocol
(temp file, rename) and the order of writes and answers; power loss proper is modelled by ``TearingStore``.
"""
from __future__ import annotations

import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from firmware_sim.card_os import CardOS
from firmware_sim.image import CardImage, ImageStore, load_card, load_json
from tests.faults import kill_child
from tests.support import cardkit as ck

ROOT = Path(__file__).resolve().parents[2]
KILLS = 36
MAX_PAUSE = 0.05          # seconds of work the child gets before the kill, drawn uniformly


class _Enough(BaseException):
    pass


class _Recorder(ImageStore):
    def __init__(self, limit: int) -> None:
        super().__init__(None)
        self.docs: list[dict[str, Any]] = []
        self.limit = limit

    def save(self, doc: dict[str, Any]) -> None:
        self.docs.append(doc)
        if len(self.docs) >= self.limit:
            raise _Enough


def replay(start: dict[str, Any], seed: int, saves: int) -> list[dict[str, Any]]:
    """The first ``saves`` images the child writes, starting from ``start`` with ``seed``."""
    store = _Recorder(saves)
    cos = CardOS(CardImage.from_json(start), store, rng=kill_child.card_rng(seed))
    cos.power_on()
    answers = iter(range(100 * saves + 1000))

    def say(line: str) -> None:        # a script that stops writing must fail the test, not hang it
        if next(answers, None) is None:
            raise _Enough

    try:
        kill_child.script(cos, random.Random(seed), say)
    except _Enough:
        pass
    return store.docs


def run_and_kill(path: Path, seed: int, pause: float) -> list[str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.faults.kill_child", str(path), str(seed)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the child did not start"
        first = proc.stdout.readline().decode()   # unbuffered: reads up to the newline, not a byte further
        assert first == "READY\n", first + proc.stderr.read().decode() if proc.stderr else first
        time.sleep(pause)
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err.decode()
    assert not err, err.decode()
    return out.decode().splitlines()


def test_sigkill_at_random_points_leaves_the_old_or_the_new_image(tmp_path: Path) -> None:
    path = ck.write_image(tmp_path / "card.json")
    rnd = random.Random(20240301)
    outcomes: Counter[str] = Counter()
    total_saves = unblocks = 0
    for _ in range(KILLS):
        seed = rnd.randrange(1 << 32)
        start = load_json(path)
        lines = run_and_kill(path, seed, rnd.uniform(0, MAX_PAUSE))
        done = sum(1 for ln in lines if ln.startswith("S "))
        states = [start] + replay(start, seed, done + 1)
        assert len(states) == done + 2
        # 1. the image loads, and is the last reported write or the one in flight
        load_card(path)
        disk = load_json(path)
        old, new = states[done], states[done + 1]
        assert disk in (old, new), f"image after the kill is neither the old nor the new state ({done} writes)"
        outcomes["new" if disk == new and disk != old else "old"] += 1
        # 2. a try is never given back: the in-flight write may only lower the counter or reset it after a
        #    correct PIN, so the counter on disk is never above the last reported one unless that happened
        if disk["pin"]["tries_left"] > old["pin"]["tries_left"]:
            assert new["pin"]["tries_left"] == new["pin"]["max_tries"] and disk == new
        # 3. every wrong-PIN answer left the card after its decremented counter was written
        saved = 0
        for ln in lines:
            if ln.startswith("S "):
                saved = int(ln[2:])
                assert saved <= done
            elif ln.startswith(("R 20 63C", "R 5E 63C")):
                assert states[saved]["pin"]["tries_left"] == int(ln[-1], 16), ln
            elif ln.startswith(("R 20 6983", "R 5E 6983")):
                assert states[saved]["pin"]["tries_left"] == 0, ln
            elif ln.startswith("R 24 9000"):          # PIN UNBLOCK / RELOAD: answered after the reset was written
                assert states[saved]["pin"]["tries_left"] == states[saved]["pin"]["max_tries"], ln
                unblocks += 1
        total_saves += done
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("card.json", "card.json.lock")]
    assert all(n.startswith("card.json.") and n.endswith(".tmp") for n in leftovers)
    card = CardOS.from_file(path)                  # and the card still works, its stale temp files gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json", "card.json.lock"]
    card.power_on()
    assert ck.sw(card.process(ck.SELECT_SSSE)) >> 8 == 0x61
    assert outcomes["old"] + outcomes["new"] == KILLS
    print(f"\n{KILLS} kills after {total_saves} reported writes ({unblocks} PIN unblocks/reloads): "
          f"{dict(outcomes)}; {len(leftovers)} temp files left by killed writes")


def test_the_child_script_reaches_every_flow() -> None:
    """Run in memory (no kill), the child's script does what it is meant to: wrong PINs block the PIN, key 06
    and PIN UNBLOCK (``84 24 00 00``) and PIN RELOAD (``84 24 00 01``) succeed, and so do EXTERNAL AUTHENTICATE
    with UK and the UPDATE RECORD after it; nothing answers an unexpected SW."""
    start = ck.new_image().to_json()
    cos = CardOS(CardImage.from_json(start), _Recorder(400), rng=kill_child.card_rng(7))
    cos.power_on()
    seen: Counter[tuple[int, int, int, int]] = Counter()
    real = cos.process

    def process(apdu: bytes) -> bytes:
        rsp = real(apdu)
        seen[(apdu[1], apdu[2] if apdu[1] == 0x82 else apdu[3], apdu[3] if apdu[1] == 0x82 else 0,
              ck.sw(rsp))] += 1
        return rsp

    cos.process = process  # type: ignore[method-assign]  # a spy around the card's process
    try:
        kill_child.script(cos, random.Random(7), lambda line: None)
    except _Enough:
        pass
    assert seen[(0x82, 0x00, 0x06, 0x9000)] >= 2             # key 06 authenticated
    assert seen[(0x24, 0x00, 0x00, 0x9000)] >= 1             # UNBLOCK
    assert seen[(0x24, 0x01, 0x00, 0x9000)] >= 1             # RELOAD
    assert seen[(0x82, 0x00, 0x04, 0x9000)] >= 1 and seen[(0xDC, 0x2C, 0x00, 0x9000)] >= 1
    assert seen[(0x20, 0x00, 0x00, 0x6983)] >= 1             # the PIN got blocked on the way
    unexpected = {k: n for k, n in seen.items() if k[3] != 0x9000 and not (
        k[0] in (0x20, 0x5E) and (k[3] & 0xFFF0 == 0x63C0 or k[3] == 0x6983))}
    assert not unexpected, {f"{k[0]:02X} {k[1]:02X} {k[2]:02X} -> {k[3]:04X}": n for k, n in unexpected.items()}
