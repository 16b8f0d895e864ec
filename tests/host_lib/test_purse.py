"""The purse as a hospital or pharmacy terminal runs it (docs/design.md §3.3): the debit flow on the `sim` reader,
its failures, the standard interface's iDoDebit and iReadDebitRecord, and `sscard purse`."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_psam
from firmware_sim.device_faults import FaultyDevice, ForcedStatus
from firmware_sim.image import atomic_write, dumps, load_card
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from host.errors import CardError, NoPsam, WrongPin
from host.spec import open_terminal
from host.standard import ScriptedPins, SSCardDriver
from host.terminal import Terminal
from host.trace import Tracer
from protocols import purse as P
from tests.card.conftest import make_image
from tests.support.cli import run

WHEN = dt.datetime(2024, 5, 1, 10, 30)


@pytest.fixture(params=["gen2", "gen3"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    card = make_image(tmp_path, request.param, purse_balance=1234)
    psam = tmp_path / "psam.json"
    atomic_write(psam, dumps(demo_psam("440300" if request.param == "gen3" else "440100").to_json()))
    return f"sim:{card},psam={psam}"


def test_debit_balance_and_log(spec: str) -> None:
    tracer = Tracer(keep=True)
    term = open_terminal(spec, trace=tracer)
    assert term.purse_balance("123456") == 1234
    r = term.debit(234, "123456", when=WHEN)
    assert (r.amount, r.balance_before, r.balance, r.offline_counter, r.terminal_txn) == (234, 1234, 1000, 0, 0)
    assert r.when == "20240501103000" and len(r.tac) == 8 and len(r.mac2) == 8
    names = [rec["cmd_name"] for rec in tracer.records]
    for name in ("VERIFY", "INITIALIZE FOR PURCHASE", "INIT SAM FOR PURCHASE", "DEBIT FOR PURCHASE",
                 "CREDIT SAM FOR PURCHASE"):
        assert name in names
    verify = [rec for rec in tracer.records if rec["cmd_name"] == "VERIFY"]
    assert verify and all("123456" not in json.dumps(rec) for rec in verify)   # the PIN is redacted
    assert term.purse_balance("123456") == 1000
    log = term.purse_log("123456")
    assert [(x.amount, x.offline_counter, x.timestamp) for x in log] == [(234, 0, "20240501103000")]
    second = term.debit(1000, "123456", when=WHEN)
    assert (second.balance, second.offline_counter, second.terminal_txn) == (0, 1, 1)
    with pytest.raises(CardError) as info:
        term.debit(1, "123456")
    assert info.value.sw == 0x9401 and "insufficient balance" in str(info.value)
    term.close()


def test_tac_checks_with_the_back_office_key(tmp_path: Path) -> None:
    path = make_image(tmp_path, "gen2")
    term = open_terminal(f"sim:{path}")
    r = term.debit(5, "123456", when=WHEN)
    img = load_card(path)
    dtk = img.dfs["DF04"].keys[3].value
    assert r.tac == P.tac(img.profile.alg, dtk, 5, bytes.fromhex(r.terminal_number), r.terminal_txn,
                          bytes.fromhex(r.when)).hex().upper()


def test_wrong_pin_and_no_psam(tmp_path: Path) -> None:
    path = make_image(tmp_path, "gen2")
    term = open_terminal(f"sim:{path}")
    with pytest.raises(WrongPin):
        term.debit(1, "000000")
    assert term.purse_balance("123456") == 10000
    card_only = Terminal(open_terminal(f"sim:{path}").card_reader)
    with pytest.raises(NoPsam):
        card_only.debit(1, "123456")
    assert card_only.purse_balance("123456") == 10000              # the balance needs no PSAM
    with pytest.raises(ValueError):
        term.debit(0, "123456")


def test_a_refused_mac2_is_reported_with_the_debit(tmp_path: Path) -> None:
    path = make_image(tmp_path, "gen2")
    card = CardOS.from_file(path)
    psam = FaultyDevice(PsamOS(demo_psam()), forced=[ForcedStatus(0x9302, cla=0x80, ins=0x72, run=True)])
    term = Terminal(InProcessReader(card), InProcessReader(psam))
    with pytest.raises(CardError) as info:
        term.debit(7, "123456", when=WHEN)
    assert info.value.sw == 0x9302 and "debited 0.07" in str(info.value) and "TAC" in str(info.value)
    assert load_card(path).dfs["DF04"].purse.balance == 10000 - 7     # type: ignore[union-attr]


def test_a_refused_mac1_debits_nothing(tmp_path: Path) -> None:
    path = make_image(tmp_path, "gen2")
    card = FaultyDevice(CardOS.from_file(path), forced=[ForcedStatus(0x9302, cla=0x80, ins=0x54)])
    term = Terminal(InProcessReader(card), InProcessReader(PsamOS(demo_psam())))
    with pytest.raises(CardError) as info:
        term.debit(7, "123456")
    assert info.value.sw == 0x9302 and "nothing was debited" in str(info.value)


# --- the standard interface --------------------------------------------------------------------------------
def test_idodebit_and_ireaddebitrecord(spec: str) -> None:
    driver = SSCardDriver(spec, pin_entry=ScriptedPins(["123456"] * 4))
    code, out = driver.iDoDebit(1, "", "2.34|5.00|20240501103000|")
    assert code == 0, out
    fields = out.split("|")
    assert fields[:3] == ["12.34", "2.34", "10.00"] and fields[3] == "0000" and fields[6] == "20240501103000"
    assert len(fields[7]) == 8 and fields[8] == ""
    code, out = driver.iReadDebitRecord(1)
    assert (code, out.split("$")[0]) == (0, f"0000|2.34|06|{fields[4]}|20240501103000|")
    code, out = driver.iDoDebit(1, "", "20.00||20240501103000|")
    assert code == -0x9401
    driver.close()


@pytest.mark.parametrize("pay", ["", "1.00|", "1.00|2.00|", "x|2|20240501103000|", "0|1|20240501103000|",
                                 "2.00|1.00|20240501103000|", "1.00|2.00|20241301103000|", "1.005||20240501103000|"])
def test_idodebit_bad_pay_info_is_23(pay: str) -> None:
    driver = SSCardDriver("sim", pin_entry=ScriptedPins(["123456"]))
    assert driver.iDoDebit(1, "", pay)[0] == -23
    driver.close()


def test_idodebit_checks_the_card(tmp_path: Path) -> None:
    driver = SSCardDriver(f"sim:{make_image(tmp_path, 'gen2')}", pin_entry=ScriptedPins(["123456"]))
    assert driver.iDoDebit(1, "|X00000000|", "1.00||20240501103000|")[0] == -22
    driver.close()


# --- sscard purse ----------------------------------------------------------------------------------------------
def test_cli_purse(tmp_path: Path) -> None:
    spec = f"sim:{make_image(tmp_path, 'gen2', purse_balance=1234)}"
    out = run("purse", "balance", "--reader", spec, "--pin", "123456")
    assert (out.returncode, out.stdout) == (0, "12.34\n"), out.stderr
    out = run("purse", "debit", "1.00", "--reader", spec, stdin="123456\n")         # the PIN on stdin
    assert out.returncode == 0, out.stderr
    assert "11.34" in out.stdout and "TAC" in out.stdout and "123456" not in out.stdout
    data = json.loads(run("purse", "debit", "0.34", "--reader", spec, "--pin", "123456", "--json").stdout)
    assert (data["amount"], data["balance"], data["offline_counter"]) == (34, 1100, 1)
    out = run("purse", "log", "--reader", spec, "--pin", "123456")
    assert out.returncode == 0 and out.stdout.count("440100000001") == 2 and "0.34" in out.stdout
    log = json.loads(run("purse", "log", "--reader", spec, "--pin", "123456", "--json").stdout)
    assert [x["amount"] for x in log] == ["0.34", "1.00"]
    assert run("purse", "balance", "--reader", spec, "--pin", "123456", "--json").stdout.strip() == \
        '{"balance": "11.00", "fen": 1100}'


@pytest.mark.parametrize("args, code, text", [
    (("purse", "debit", "--pin", "123456"), 2, "AMOUNT"),
    (("purse", "debit", "1.001", "--pin", "123456"), 2, "two decimals"),
    (("purse", "debit", "-1", "--pin", "123456"), 2, "AMOUNT"),
    (("purse", "debit", "0", "--pin", "123456"), 2, "0.01"),
    (("purse", "balance", "1.00", "--pin", "123456"), 2, "no AMOUNT"),
    (("purse", "balance", "--pin", "12"), 2, "--pin"),
    (("purse", "debit", "99999", "--pin", "123456"), 1, "insufficient balance"),
    (("purse", "balance", "--pin", "000000"), 5, "tries left"),
])
def test_cli_purse_errors(tmp_path: Path, args: tuple[str, ...], code: int, text: str) -> None:
    out = run(*args, "--reader", f"sim:{make_image(tmp_path, 'gen2')}")
    assert out.returncode == code and text in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_cli_purse_no_pin_at_the_prompt(tmp_path: Path) -> None:
    out = run("purse", "balance", "--reader", f"sim:{make_image(tmp_path, 'gen2')}", stdin="")
    assert out.returncode == 2 and "no PIN" in out.stderr


def test_card_new_with_a_purse_balance(tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    out = run("card", "new", "--out", str(path), "--name", "李雷", "--ssn", "440106200001011230",
              "--card-number", "E44010001", "--purse-balance", "20.00")
    assert out.returncode == 0, out.stderr
    assert run("purse", "balance", "--reader", f"sim:{path}", "--pin", "123456").stdout == "20.00\n"
    bad = run("card", "new", "--out", str(tmp_path / "b.json"), "--name", "李雷", "--ssn", "440106200001011230",
              "--card-number", "E44010001", "--purse-balance", "1.234")
    assert bad.returncode == 2 and "--purse-balance" in bad.stderr
