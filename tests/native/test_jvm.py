"""libsscard.so inside a JVM (tests/native/ReadCard.java): the host that loads it with its own threads and signal
handlers, and dlopen without RTLD_GLOBAL, which the embedded Python must survive (native/sscard.c).

Runs when a JDK 17 or later with the jdk.incubator.foreign module is installed; a JDK is not one of the
project's prerequisites (scripts/setup.sh), so without one this test skips, also under SSCARD_STRICT."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.native.conftest import ROOT, run


def _java_with_foreign() -> str | None:
    java = shutil.which("java")
    if java is None:
        return None
    done = subprocess.run([java, "--list-modules"], capture_output=True, text=True, timeout=60)
    return java if "jdk.incubator.foreign" in done.stdout else None


def test_read_from_java_threads(native_lib, lib_env, tmp_path):
    java = _java_with_foreign()
    if java is None:
        pytest.skip("no JDK with jdk.incubator.foreign (JDK 17–20): the JVM test is optional")
    done = run([java, "--add-modules", "jdk.incubator.foreign", "--enable-native-access=ALL-UNNAMED",
                ROOT / "tests" / "native" / "ReadCard.java", "4", "5"], lib_env, tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    lines = done.stdout.decode("utf-8").splitlines()
    assert lines[0].startswith("read 0 440100|440106198503127719|A44010001|") and "陈晓明" in lines[0]
    assert lines[1:] == ["null -14", "itype -14", "threads ok"]
