"""``sscard emulate --serial-pty PATH`` makes PATH a symlink to its pty: it never replaces what is already there
(a file, a folder, another link, a live emulator's link), only a stale link a killed emulator left, and on
exit it removes its own link and nothing else. Real ptys, real processes."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hardware.serial_serve import FirmwareServer, PtyPathError, make_firmware
from tests.support.cli import ROOT, SSCARD
from tests.support.devices import EchoDevice



def emulate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(SSCARD + ["emulate", "--serial-pty", str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def server() -> FirmwareServer:
    return FirmwareServer(make_firmware(EchoDevice(), None))


def test_a_file_at_the_path_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("precious", encoding="utf-8")
    out = emulate(path)
    assert out.returncode == 2, out.stderr
    assert f"--serial-pty {path}: there is a file" in out.stderr
    assert path.read_text(encoding="utf-8") == "precious"


@pytest.mark.parametrize("kind", ["folder", "symlink to a file", "symlink to a live pty", "fifo"])
def test_anything_but_a_stale_link_of_ours_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "tty"
    target = tmp_path / "precious"
    target.write_text("precious", encoding="utf-8")
    live = server()
    try:
        if kind == "folder":
            path.mkdir()
        elif kind == "symlink to a file":
            path.symlink_to(target)
        elif kind == "symlink to a live pty":
            live.serve_pty(str(path))                     # another emulator is serving on this path
        else:
            os.mkfifo(path)
        before = os.readlink(path) if path.is_symlink() else None
        with pytest.raises(PtyPathError, match="--serial-pty .*: there is"):
            server().serve_pty(str(path))
        assert (os.readlink(path) if path.is_symlink() else None) == before
        assert path.exists() and target.read_text(encoding="utf-8") == "precious"
    finally:
        live.close()


def test_a_stale_link_of_a_killed_emulator_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "tty"
    proc = subprocess.Popen(SSCARD + ["emulate", "--serial-pty", str(path)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30                      # a guard against a hang, not a measurement
    while not path.is_symlink():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the emulator did not make its link"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert path.is_symlink() and not path.exists()        # left behind, pointing at a pty that is gone
    srv = server()
    pty = srv.serve_pty(str(path))
    try:
        assert pty == str(path) and path.exists() and os.readlink(path).startswith("/dev/pts/")
    finally:
        srv.close()
    assert not path.is_symlink() and not path.exists()    # its own link removed on exit


def test_on_exit_only_its_own_link_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "tty"
    srv = server()
    srv.serve_pty(str(path))
    path.unlink()
    path.write_text("made by someone else later", encoding="utf-8")
    srv.close()
    assert path.read_text(encoding="utf-8") == "made by someone else later"
