"""The bank card number over PC/SC: pyscard → private pcscd → vpcd → the emulated card (T=0: every SELECT and GPO
answer comes through 61xx and GET RESPONSE), read by the library and by the standard interface."""
from __future__ import annotations

import json

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_card
from host.standard import SSCardDriver
from host.terminal import Terminal
from host.trace import Tracer
from protocols import emv

from .conftest import VpcdBench

pytestmark = pytest.mark.pcsc


def test_bank_card_number_over_pcsc(pcscd_vpcd: VpcdBench, serve) -> None:
    image = demo_card("shenzhen-gen3")
    pan = image.apps["bank"].pan  # type: ignore[attr-defined]  # BankData
    serve(CardOS(image), 0)
    tracer = Tracer(keep=True)
    term = Terminal(pcscd_vpcd.reader(0), trace=tracer)
    try:
        info = term.read_bank_card()
        assert (info.pan, info.holder_name, info.found_by) == (pan, "LIN/WANTING", "PSE")
        assert emv.luhn_valid(info.pan) and info.masked_pan == emv.mask_pan(pan)
        names = [r["cmd_name"] for r in tracer.records]
        assert "GET PROCESSING OPTIONS" in names and "GET RESPONSE" in names   # T=0 through pcscd
        assert pan not in json.dumps(tracer.records)
        assert term.read_bank_card(contactless=True).found_by == "PPSE"
    finally:
        term.close()


def test_bank_standard_function_over_pcsc(pcscd_vpcd: VpcdBench, serve) -> None:
    image = demo_card()
    serve(CardOS(image), 0)
    driver = SSCardDriver(Terminal(pcscd_vpcd.reader(0)))
    try:
        code, out = driver.iReadBankCardNo(1)
        assert code == 0 and out.split("|")[:2] == [image.apps["bank"].pan, "20290315"]  # type: ignore[attr-defined]
    finally:
        driver.close()
