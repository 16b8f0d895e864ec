"""A debit torn by a power cut or a failing flash (docs/design.md §3.3): the purse, its offline counter and its log
record are one image write, so after any tear the card holds the debit with its record, or neither."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.device_faults import PowerLoss, TearingStore, TearPoint
from firmware_sim.image import atomic_write, dumps, load_card
from firmware_sim.issuance.personalise import new_card
from protocols import purse as P
from tests.card.conftest import PERSON

DF04 = bytes.fromhex("00A4040006D15600000503")
TERMINAL = bytes.fromhex("440100000001")
WHEN = bytes.fromhex("20240501103000")


def _card(tmp_path: Path, point: TearPoint, error: type[BaseException]) -> tuple[CardOS, TearingStore, bytes]:
    path = tmp_path / "card.json"
    atomic_write(path, dumps(new_card(PERSON, serial=7, purse_balance=5000).to_json()))
    store = TearingStore(path, tear_on=10**9, point=point, error=error)
    cos = CardOS(load_card(path), store)
    cos.power_on()
    cos.process(DF04)
    assert cos.process(bytes.fromhex("0020000003123456"))[-2:] == b"\x90\x00"
    rsp = cos.process(bytes.fromhex("805001020B0100000190") + TERMINAL + b"\x0F")
    init = P.InitResponse.parse(rsp[:-2])
    dpk = cos.image.dfs["DF04"].keys[1].value
    sespk = P.session_key(cos.alg, dpk, init.random, init.offline_counter, 9)
    mac1 = P.mac1(cos.alg, sespk, 400, TERMINAL, WHEN)
    return cos, store, bytes.fromhex("805401000F00000009") + WHEN + mac1 + b"\x08"


def _state(path: Path) -> tuple[int, int, int, int]:
    df = load_card(path).dfs["DF04"]
    assert df.purse is not None
    return df.purse.balance, df.purse.offline_counter, len(df.records[0xEF08]), df.keys[1].tries_left


@pytest.mark.parametrize("point", list(TearPoint))
@pytest.mark.parametrize("save", [1, 2])      # 1: the try counted before MAC1 is compared; 2: the debit itself
def test_power_cut_during_a_debit(tmp_path: Path, point: TearPoint, save: int) -> None:
    cos, store, debit = _card(tmp_path, point, PowerLoss)
    path = store.path
    assert path is not None
    store.tear_on = store.saves + save
    with pytest.raises(PowerLoss):
        cos.process(debit)
    state = _state(path)
    if save == 2 and point is TearPoint.AFTER_RENAME:
        assert state == (4600, 1, 1, 3)                     # the debit, its counter and its record: all
    elif save == 2:
        assert state == (5000, 0, 0, 2)                     # none (the counted try is on disk)
    else:
        assert state[:3] == (5000, 0, 0) and state[3] in (2, 3)
    record = load_card(path).dfs["DF04"].records[0xEF08]
    if record:
        assert P.LogRecord.parse(record[0]).amount == 400


@pytest.mark.parametrize("point", list(TearPoint))
def test_failing_flash_during_a_debit_answers_6581_and_keeps_the_card_whole(tmp_path: Path, point: TearPoint) -> None:
    cos, store, debit = _card(tmp_path, point, OSError)
    path = store.path
    assert path is not None
    store.tear_on = store.saves + 2
    assert cos.process(debit)[-2:] == b"\x65\x81"
    on_disk = _state(path)
    assert on_disk in ((4600, 1, 1, 3), (5000, 0, 0, 2))
    st = cos.image.dfs["DF04"]
    assert st.purse is not None
    assert (st.purse.balance, st.purse.offline_counter, len(st.records[0xEF08])) == on_disk[:3]
