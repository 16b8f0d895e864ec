"""Fixtures for the shared-library tests: build/libsscard.so (built here when missing or older than its
sources), C programs compiled against build/sscard.h, and a clean environment for every process that loads
the library, so neither the developer's config file nor a stray ``SSCARD_*``/``PYTHON*`` variable decides
what a test sees. Every such process runs in a new session, without a controlling terminal: the library
must never wait on a console (README "Native library")."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.support.prereq import missing

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
LIB = BUILD / "libsscard.so"
HEADER = BUILD / "sscard.h"
SOURCES = [ROOT / "native" / "sscard.c", ROOT / "native" / "sscard.h", ROOT / "scripts" / "build-lib.sh"]
VENV_PY = ROOT / ".venv" / "bin" / "python"
TIMEOUT = 120


def _stale() -> bool:
    if not (LIB.is_file() and HEADER.is_file()):
        return True
    built = min(LIB.stat().st_mtime, HEADER.stat().st_mtime)
    return any(src.stat().st_mtime > built for src in SOURCES)


@pytest.fixture(scope="session")
def native_lib() -> Path:
    """build/libsscard.so, built by scripts/build-lib.sh (what `make lib` runs) if it is missing or stale."""
    if shutil.which("gcc") is None:
        missing("gcc is not installed (Debian package gcc)")
    if _stale():
        done = subprocess.run(["bash", str(ROOT / "scripts" / "build-lib.sh")], cwd=ROOT, capture_output=True,
                              text=True, timeout=TIMEOUT)
        assert done.returncode == 0, f"build-lib.sh failed:\n{done.stdout}\n{done.stderr}"
    return LIB


@pytest.fixture
def lib_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a process loading the library: the demo card, an empty config folder, nothing else."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SSCARD_", "PYTHON")) and k not in ("VIRTUAL_ENV", "XDG_CONFIG_HOME")}
    config = tmp_path / "config"
    config.mkdir()
    env.update(XDG_CONFIG_HOME=str(config), SSCARD_READER="sim", SSCARD_LIB=str(LIB))
    return env


Compile = Callable[..., Path]


@pytest.fixture
def compile_c(native_lib: Path, tmp_path: Path) -> Compile:
    """``compile_c(source, *flags)`` → the executable, built with gcc against build/sscard.h."""
    def build(source: Path, *flags: str) -> Path:
        exe = tmp_path / source.stem
        done = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I", str(BUILD), "-o", str(exe),
                               str(source), *flags], capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0, done.stderr
        return exe
    return build


def run(cmd: Sequence[str | Path], env: dict[str, str], cwd: Path, *, timeout: float = TIMEOUT,
        input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run a process that loads the library: own session (no controlling terminal), bytes out (GBK)."""
    return subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, timeout=timeout,
                          start_new_session=True, input=input, stdin=None if input is not None else subprocess.DEVNULL)


def run_python(code: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[bytes]:
    """Run ``code`` in the venv's Python (a second FFI client: ctypes), from the repository root."""
    return run([str(VENV_PY if VENV_PY.exists() else sys.executable), "-c", code], env, cwd)
