"""The production sequences of tests/replay, unchanged, on every reader path: the emulator in-process, behind
pcscd + vpcd (pyscard), and behind the simulated CCID serial reader (T=0 and T=1). Each runs on a fresh
emulated gen2 card (the sequences are those of a 3DES production DLL); on a physical reader they run only
with ``--irreversible``, as they change the PIN state."""
from __future__ import annotations

import pytest

from tests.conformance.conftest import Bench, irreversible
from tests.replay import sequences as seq


def _replay(bench: Bench, request: pytest.FixtureRequest) -> seq.Replay:
    if bench.spec.startswith("sim:") and "gen3" in bench.spec:
        pytest.skip("the production DLL's sequences are 3DES (gen2) ones")
    term = bench.terminal()
    atr = term.card_reader.connect()
    assert term.psam_reader is not None
    term.psam_reader.connect()
    return seq.Replay(term.card_reader, term.psam_reader, atr=atr)


def test_county_dll_reads(bench: Bench, request: pytest.FixtureRequest) -> None:
    out = seq.county_reads(_replay(bench, request), bench.pin.encode().hex() if not bench.pin.isdigit() else bench.pin)
    assert out["card_id"][:2] == bytes.fromhex("0110") and len(out["terminal"]) == 6


def test_loudi_read_all_records(bench: Bench, request: pytest.FixtureRequest) -> None:
    data = seq.loudi_read_all(_replay(bench, request))
    assert data[:2] == bytes.fromhex("0110") and data.rfind(b"\x07\x09") > 0


def test_internal_authentication_process_factor_first(bench: Bench, request: pytest.FixtureRequest) -> None:
    card, psam = seq.internal_auth_process_factor_first(_replay(bench, request), "A1B2C3D4E5F60718", "0102030405060708")
    assert card == psam


def test_pin_change_unlock_and_reload(bench: Bench, request: pytest.FixtureRequest) -> None:
    irreversible(bench, request)
    r = _replay(bench, request)
    seq.per_pin_change(r, "123456", "246810")
    r.c("0020000003123456", "63C2")
    seq.per_pin_unlock(r)
    r.c("0020000003246810")
    seq.reset_password(r, "123456")
    r.c("0020000003123456")
