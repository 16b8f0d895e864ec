"""The real thing: an emulator process SIGKILLed at random points while it changes its card image.

After every kill the image must load and be exactly the last image the process reported writing (old) or
the one it was writing (new) — never a mixture; every wrong-PIN answer must have been preceded by the write
of its decremented try counter, so killing the card never gives a try back (DESIGN.md §3 PIN, §4).
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
    total_saves = 0
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
        total_saves += done
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("card.json", "card.json.lock")]
    assert all(n.startswith("card.json.") and n.endswith(".tmp") for n in leftovers)
    card = CardOS.from_file(path)                  # and the card still works, its stale temp files gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json", "card.json.lock"]
    card.power_on()
    assert ck.sw(card.process(ck.SELECT_SSSE)) >> 8 == 0x61
    assert outcomes["old"] + outcomes["new"] == KILLS
    print(f"\n{KILLS} kills after {total_saves} reported writes: {dict(outcomes)}; "
          f"{len(leftovers)} temp files left by killed writes")
