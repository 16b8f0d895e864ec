"""The WebSocket bridge (`sscard serve`) driven by a real WebSocket client."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from host import cli
from host.hsm import SoftwareHsm
from host.serve import EXAMPLE_PAGE, BackgroundBridge, Bridge
from host.standard import SSCardDriver, ScriptedPins
from host.standard.formats import split_fields


@pytest.fixture
def bridge(images):
    pad = ScriptedPins.of("123456", "000000")
    driver = SSCardDriver(images.terminal(images.card("gen3")), pin_entry=pad, device_number="SIM0001")
    with BackgroundBridge(Bridge(driver, page=EXAMPLE_PAGE)) as bg:
        yield bg, driver


def ask(ws, **message):
    ws.send(json.dumps(message))
    return json.loads(ws.recv(timeout=30))


def test_answers_like_the_library(bridge):
    bg, driver = bridge
    with connect(bg.url) as ws:
        reply = ask(ws, function="iReadCardBas", iType=3, id="r1")
        assert reply["code"] == 0 and reply["id"] == "r1" and reply["function"] == "iReadCardBas"
        assert split_fields(reply["output"])[4] == "林婉婷"
        assert ask(ws, function="iReadCard", iType=1, iAuthType=2, pCardInfo="", pFileAddr="SSSEEF05|07|$") \
            ["output"] == "SSSEEF05|B44030002|$"
        assert ask(ws, function="iVerifyPIN", iType=1) == {"code": 0, "output": "", "function": "iVerifyPIN"}
        wrong = ask(ws, function="iVerifyPIN", iType="1")
        assert (wrong["code"], split_fields(wrong["output"])[0]) == (-51, "2")
        assert ask(ws, function="iReadCardBas", iType=7)["code"] == -14
        assert ask(ws, function="iReadPhoto", iType=3)["code"] == 0
    assert driver.iReadCardBas(1)[0] == 0


def test_hsm_flow_over_the_bridge(bridge):
    bg, _ = bridge
    with connect(bg.url) as ws:
        step1 = ask(ws, function="iReadCardBas_HSM_Step1", iType=1)
        assert step1["code"] == 0
        reply = ask(ws, function="iReadCardBas_HSM_Step2", pKey=SoftwareHsm().read_basic_info(step1["output"]))
        assert reply["code"] == 0 and split_fields(reply["output"])[2] == "B44030002"


def test_bad_requests(bridge):
    bg, _ = bridge
    with connect(bg.url) as ws:
        ws.send("not json")
        assert json.loads(ws.recv(timeout=30))["code"] == -14
        ws.send(b"\x00\x01")
        assert json.loads(ws.recv(timeout=30))["code"] == -14
        assert ask(ws, function="iFormatDisk")["code"] == -13
        assert ask(ws, function="iReadCard", iType=1, iAuthType=2, pCardInfo=5, pFileAddr="x")["code"] == -14
        assert ask(ws, function="iReadCard", iType=1, iAuthType=2)["code"] == -23   # missing pFileAddr = ""


def test_origin_check(bridge):
    bg, _ = bridge
    for origin in ("http://localhost:8080", "http://127.0.0.1", "null"):
        with connect(bg.url, origin=origin) as ws:
            assert ask(ws, function="iGetReaderInfo")["code"] == 0
    with pytest.raises(InvalidStatus) as err:
        connect(bg.url, origin="https://evil.example")
    assert err.value.response.status_code == 403


def test_extra_origin_is_accepted(images):
    driver = SSCardDriver(images.terminal(images.card("gen2")))
    with BackgroundBridge(Bridge(driver, extra_origins=("https://counter.example",))) as bg:
        with connect(bg.url, origin="https://counter.example") as ws:
            assert ask(ws, function="iReadCardBas", iType=1)["code"] == 0


def test_serves_the_page(bridge):
    bg, _ = bridge
    with urllib.request.urlopen(f"http://127.0.0.1:{bg.port}/") as rsp:
        assert rsp.status == 200 and b"iReadCardBas" in rsp.read()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{bg.port}/secret")
    assert err.value.code == 404
    err.value.close()


def test_refuses_non_loopback_without_allow_remote(images, capsys):
    driver = SSCardDriver(images.terminal(images.card("gen2")))
    with pytest.raises(ValueError, match="non-loopback"):
        BackgroundBridge(Bridge(driver), host="0.0.0.0")
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "0"]) == cli.EXIT_USAGE
    assert "--allow-remote" in capsys.readouterr().err


def test_sscard_serve_command_end_to_end():
    proc = subprocess.Popen([sys.executable, "-m", "host.cli", "serve", "--port", "0", "-r", "sim:shenzhen-gen3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"ws://127\.0\.0\.1:\d+/", line)
        assert match, line + proc.stderr.read()
        with connect(match.group(0)) as ws:
            reply = ask(ws, function="iReadCardBas", iType=3)
        assert reply["code"] == 0 and split_fields(reply["output"])[4] == "林婉婷"
        assert "counter page: http://127.0.0.1:" in line
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
    assert rc == 0
