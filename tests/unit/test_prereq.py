"""tests/support/prereq.py: a missing system package skips a developer's run and fails a strict one."""
from __future__ import annotations

import pytest

from tests.support import prereq


def test_missing_skips_with_the_reason_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(prereq.STRICT_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="Debian package pcscd"):
        prereq.missing("/usr/sbin/pcscd not installed (Debian package pcscd)")


@pytest.mark.parametrize("value", ["1", "yes"])
def test_missing_fails_when_strict(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(prereq.STRICT_ENV, value)
    with pytest.raises(pytest.fail.Exception, match=r"Debian package libccid.*SSCARD_STRICT=1"):
        prereq.missing("libccidtwin.so not installed (Debian package libccid)")


def test_strict_zero_allows_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(prereq.STRICT_ENV, "0")
    with pytest.raises(pytest.skip.Exception):
        prereq.missing("chromium not installed (Debian package chromium)")

