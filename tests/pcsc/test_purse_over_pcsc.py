"""The purse over PC/SC (docs/design.md §3.3): pyscard → private pcscd → vpcd → the emulated card (slot 0) and PSAM
(slot 1), both on T=0, so INITIALIZE, DEBIT and INIT SAM FOR PURCHASE answer through 61xx and GET RESPONSE."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_card, demo_psam
from firmware_sim.psam import PsamOS
from hardware.vpcd_link import VpcdLink
from host.standard import ScriptedPins, SSCardDriver
from host.terminal import Terminal
from host.trace import Tracer

from .conftest import VpcdBench

pytestmark = pytest.mark.pcsc
Serve = Callable[..., VpcdLink]


@pytest.mark.parametrize("name", ["guangzhou-gen2", "shenzhen-gen3"])
def test_debit_over_pcsc(pcscd_vpcd: VpcdBench, serve: Serve, name: str) -> None:
    card = CardOS(demo_card(name))
    serve(card, 0)
    serve(PsamOS(demo_psam(card.image.region)), 1)
    tracer = Tracer(keep=True)
    term = Terminal(pcscd_vpcd.reader(0), pcscd_vpcd.reader(1), trace=tracer)
    try:
        before = term.purse_balance("123456")
        r = term.debit(150, "123456", when=dt.datetime(2024, 5, 1, 10, 30))
        assert (r.balance_before, r.balance) == (before, before - 150)
        assert term.purse_balance("123456") == before - 150
        assert term.purse_log("123456")[0].amount == 150
        names = [rec["cmd_name"] for rec in tracer.records]
        assert names.count("GET RESPONSE") >= 3                     # INITIALIZE, INIT SAM, DEBIT on T=0
        assert card.image.dfs["DF04"].purse.balance == before - 150  # type: ignore[union-attr]
    finally:
        term.close()


def test_standard_debit_over_pcsc(pcscd_vpcd: VpcdBench, serve: Serve) -> None:
    card = CardOS(demo_card())
    serve(card, 0)
    serve(PsamOS(demo_psam()), 1)
    driver = SSCardDriver(Terminal(pcscd_vpcd.reader(0), pcscd_vpcd.reader(1)),
                          pin_entry=ScriptedPins(["123456", "123456"]))
    try:
        code, out = driver.iDoDebit(1, "", "0.50|0.50||")
        assert code == 0 and out.split("|")[1:3] == ["0.50", "1234.06"]
        code, out = driver.iReadDebitRecord(1)
        assert code == 0 and out.startswith("0000|0.50|06|440100000001|")
    finally:
        driver.close()
