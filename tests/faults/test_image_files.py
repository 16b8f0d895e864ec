"""Image files hold the PIN and the keys in clear: who may read them, and what an interrupted write leaves.

New images (``card new``, ``card batch``, ``psam new``, the card's own writes) are ``0600`` whatever the
umask; a rewrite keeps the mode the owner gave the file; a write killed half-way leaves a ``0600`` temp
file that the next open of the image deletes. Real processes and real files.
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.image import atomic_write, load_card, remove_stale_temporaries
from tests.support import cardkit as ck
from tests.support.cli import ROOT, run



@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022: files would be world-readable unless created otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_images_the_cli_creates_are_private(tmp_path: Path) -> None:
    card = tmp_path / "c.json"
    assert run("card", "new", "--out", str(card), "--name", "张三", "--ssn", "440106200001011230",
               "--card-number", "E44010001").returncode == 0
    psam = tmp_path / "p.json"
    assert run("psam", "new", "--out", str(psam)).returncode == 0
    people = tmp_path / "people.csv"
    people.write_text("name,ssn,card_number\n李四,440106199001011235,A00000001\n", encoding="utf-8")
    out = run("card", "batch", str(people), "--out", str(tmp_path / "out"), "-q")
    assert out.returncode == 0, out.stderr
    for path in (card, psam, tmp_path / "out" / "A00000001.json"):
        assert mode(path) == 0o600, path.name


def test_the_card_writes_a_new_image_private_and_keeps_the_mode_of_an_existing_one(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.json"
    atomic_write(fresh, "{}\n")
    assert mode(fresh) == 0o600
    path = ck.write_image(tmp_path / "card.json")
    path.chmod(0o640)                                  # the owner shares it with a group on purpose
    cos = CardOS.from_file(path)
    cos.power_on()
    cos.process(ck.SELECT_SSSE)
    assert ck.sw(cos.process(ck.verify("000000"))) == 0x63C2
    assert load_card(path).pin_tries_left == 2 and mode(path) == 0o640
    assert mode(path.with_name("card.json.lock")) == 0o600
    out = run("card", "new", "--force", "--out", str(path), "--name", "张三", "--ssn", "440106200001011230",
              "--card-number", "E44010001")
    assert out.returncode == 0, out.stderr
    assert mode(path) == 0o640


def test_a_card_killed_mid_write_leaves_a_private_temp_file_that_the_next_open_deletes(tmp_path: Path) -> None:
    path = ck.write_image(tmp_path / "card.json")
    before = path.read_text(encoding="utf-8")
    # the card process stops itself with the new image in its temp file, not yet renamed; then it is killed
    code = ("import os, signal, sys\n"
            "from firmware_sim.card_os import CardOS\n"
            "from tests.support import cardkit as ck\n"
            "real = os.replace\n"
            "os.replace = lambda *a: (os.kill(os.getpid(), signal.SIGSTOP), real(*a))\n"
            "cos = CardOS.from_file(sys.argv[1])\n"
            "cos.power_on()\n"
            "cos.process(ck.SELECT_SSSE)\n"
            "cos.process(ck.verify('000000'))\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=ROOT)
    _, status = os.waitpid(child.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), "the card process ended before it was stopped"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].name.startswith(f"card.json.{child.pid}.")
    assert mode(temps[0]) == 0o600 and '"tries_left": 2' in temps[0].read_text(encoding="utf-8")
    assert path.read_text(encoding="utf-8") == before
    mine = path.with_name(f"card.json.{os.getpid()}.1.tmp")     # a live process's write in progress
    mine.write_text("{}", encoding="utf-8")
    other = path.with_name("card.json.notes.tmp")               # not a temp file of ours
    other.write_text("keep", encoding="utf-8")
    CardOS.from_file(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["card.json", "card.json.lock", mine.name, other.name])
    assert load_card(path).pin_tries_left == 3


def test_images_the_cli_writes_again_lose_the_temp_files_of_a_killed_write(tmp_path: Path) -> None:
    card = tmp_path / "c.json"
    stale = tmp_path / f"c.json.{dead_pid()}.140000.tmp"
    stale.write_text("{", encoding="utf-8")
    assert run("card", "new", "--out", str(card), "--name", "张三", "--ssn", "440106200001011230",
               "--card-number", "E44010001").returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_a_new_batch_deletes_what_a_killed_one_left(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f"A00000001.json.{dead_pid()}.140000.tmp"
    stale.write_text("{", encoding="utf-8")
    live = out / f"A00000009.json.{os.getpid()}.140000.tmp"
    live.write_text("{", encoding="utf-8")
    unrelated = out / "A00000001.json.abcdefgh.tmp"          # without a pid: not provably stale
    unrelated.write_text("{", encoding="utf-8")
    assert remove_stale_temporaries(out) == [stale.name]
    stale.write_text("{", encoding="utf-8")
    people = tmp_path / "people.csv"
    people.write_text("name,ssn,card_number\n李四,440106199001011235,A00000001\n", encoding="utf-8")
    result = run("card", "batch", str(people), "--out", str(out), "-q")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(["A00000001.json", live.name, unrelated.name])
