"""hardware.pcsc reader selection rules (pure functions; no pcscd needed)."""
from __future__ import annotations

import pytest

from hardware.pcsc import psam_reader_name, select_reader
from protocols.errors import ReaderError

NAMES = ["ACS ACR39U 00 00", "sscard vpcd 00 00", "sscard vpcd 00 01"]


def test_select_reader_rules() -> None:
    assert select_reader(NAMES, "") == NAMES[0]
    assert select_reader(NAMES, "2") == NAMES[2]
    assert select_reader(NAMES, "VPCD") == NAMES[1]  # substring, case-insensitive, first match
    assert select_reader(NAMES, "sscard vpcd 00 01") == NAMES[2]
    with pytest.raises(ReaderError, match="no PC/SC reader connected"):
        select_reader([], "")
    with pytest.raises(ReaderError, match="#3"):
        select_reader(NAMES, "3")
    with pytest.raises(ReaderError, match="matches 'gemalto'"):
        select_reader(NAMES, "gemalto")


def test_psam_reader_prefers_another_slot_of_the_same_reader() -> None:
    assert psam_reader_name(NAMES, "sscard vpcd 00 00") == "sscard vpcd 00 01"
    assert psam_reader_name(NAMES, "sscard vpcd 00 01") == "sscard vpcd 00 00"


def test_psam_reader_else_next_reader() -> None:
    two = ["Gemalto PC Twin Reader 00 00", "Gemalto PC Twin Reader 01 00", "Other 02 00"]
    assert psam_reader_name(two, two[0]) == two[1]
    assert psam_reader_name(two, two[2]) == two[0]  # the last one: any other reader
    assert psam_reader_name(["Only 00 00"], "Only 00 00") is None
