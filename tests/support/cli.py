"""The ``sscard`` command run in a process of its own, from the project folder, as the command-line tests run it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SSCARD = [sys.executable, "-m", "host.cli"]


def run(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``sscard ARGS`` with ``stdin`` as its input; its exit code and output as text."""
    return subprocess.run(SSCARD + list(args), cwd=ROOT, capture_output=True, text=True, input=stdin, timeout=timeout)
