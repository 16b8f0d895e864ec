"""The WebSocket bridge (`sscard serve`) driven by a real WebSocket client."""
from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from host import cli
from firmware_sim.hsm import SoftwareHsm
from host.bridge import EXAMPLE_PAGE, BackgroundBridge, Bridge, load_token, normalise_origin, token_path
from host.standard import SSCardDriver, ScriptedPins, console_pin_entry
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


def refused(url: str, origin: str | None = None) -> int:
    """The HTTP status of a refused handshake (fails if the bridge accepts it)."""
    with pytest.raises(InvalidStatus) as err:
        connect(url, origin=None if origin is None else Origin(origin)).close()
    return err.value.response.status_code


def test_origin_check(bridge):
    bg, _ = bridge
    for origin in (None, f"http://127.0.0.1:{bg.port}", f"http://localhost:{bg.port}", f"http://[::1]:{bg.port}"):
        with connect(bg.url, origin=origin) as ws:                 # not a browser, or the bridge's own page
            assert ask(ws, function="iGetReaderInfo")["code"] == 0
    for origin in ("https://evil.example", "null", "file://", "http://127.0.0.1", "http://localhost:8080",
                   f"http://127.0.0.1:{bg.port + 1}", f"https://127.0.0.1:{bg.port}"):
        assert refused(bg.url, origin) == 403, origin


def test_token_is_required(bridge):
    bg, _ = bridge
    assert refused(bg.base_url) == 401
    assert refused(bg.base_url + "?token=" + "0" * 64) == 401
    assert refused(bg.base_url + "?token=" + bg.bridge.token[:-1]) == 401
    assert refused(bg.base_url, origin=f"http://127.0.0.1:{bg.port}") == 401   # the bridge's own page too
    with connect(f"{bg.base_url}counter?token={bg.bridge.token}") as ws:
        assert ask(ws, function="iGetReaderInfo")["code"] == 0


def test_extra_origin_is_accepted(images):
    driver = SSCardDriver(images.terminal(images.card("gen2")))
    with BackgroundBridge(Bridge(driver, extra_origins=("HTTPS://Counter.example/", "null"))) as bg:
        for origin in ("https://counter.example", "null"):
            with connect(bg.url, origin=origin) as ws:
                assert ask(ws, function="iReadCardBas", iType=1)["code"] == 0
        assert refused(bg.base_url, origin="https://counter.example") == 401
        assert refused(bg.url, origin="https://counter.example.evil.example") == 403


@pytest.mark.parametrize("text, origin", [("https://a.example:8443", "https://a.example:8443"),
                                          ("HTTP://LOCALHOST:3000/", "http://localhost:3000"),
                                          ("null", "null"), ("file://", "file://")])
def test_normalise_origin(text, origin):
    assert normalise_origin(text) == origin


@pytest.mark.parametrize("text", ["counter.example", "https://a.example/page.html", "*", "", "https://"])
def test_normalise_origin_refuses_what_is_not_an_origin(text):
    with pytest.raises(ValueError, match="not an origin"):
        normalise_origin(text)


def test_token_file_is_made_once_and_private(tmp_path):
    path = tmp_path / "cfg" / "sscard" / "bridge-token"
    token = load_token(path)
    assert load_token(path) == token and len(token) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["bridge-token"]
    assert load_token(tmp_path / "other") != token
    path.chmod(0o644)
    with pytest.raises(ValueError, match="read by others") as err:
        load_token(path)
    assert token not in str(err.value)
    path.chmod(0o600)
    path.write_text("short\n")
    with pytest.raises(ValueError, match="not a bridge token"):
        load_token(path)


def test_token_path_follows_xdg_config_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert token_path() == tmp_path / "sscard" / "bridge-token"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert token_path() == tmp_path / "home" / ".config" / "sscard" / "bridge-token"


def test_show_token(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert cli.main(["serve", "--show-token"]) == 0
    token = (tmp_path / "sscard" / "bridge-token").read_text().strip()
    assert capsys.readouterr().out == f"{token}\ncounter page: http://127.0.0.1:13526/#token={token}\n"
    assert cli.main(["serve", "--show-token", "--allow-origin", "counter.example"]) == cli.EXIT_USAGE
    assert "not an origin" in capsys.readouterr().err


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


def test_sscard_serve_command_end_to_end(tmp_path):
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "host.cli", "serve", "--port", "0", "-r", "sim:shenzhen-gen3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        match = re.search(r"ws://127\.0\.0\.1:\d+/", line)
        assert match, line + proc.stderr.read()
        token_file = tmp_path / "sscard" / "bridge-token"
        assert str(token_file) in line and token_file.read_text().strip() not in line
        assert refused(match.group(0)) == 401
        with connect(f"{match.group(0)}?token={token_file.read_text().strip()}") as ws:
            reply = ask(ws, function="iReadCardBas", iType=3)
        assert reply["code"] == 0 and split_fields(reply["output"])[4] == "林婉婷"
        assert "counter page: http://127.0.0.1:" in line
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
    assert rc == 0


def test_pin_requests_ask_the_page_and_never_read_the_console(tmp_path):
    # stdin stays open and empty and there is no controlling terminal: a console PIN prompt would wait for ever.
    # The bridge asks the page that sent the request instead; the other client's read waits its turn (the card
    # is in use while the holder types) and is answered once the PIN is in.
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "host.cli", "serve", "--port", "0", "-r", "sim", "--pin-timeout",
                             "20"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"ws://127\.0\.0\.1:\d+/", line)
        assert match, line + proc.stderr.read()
        url = f"{match.group(0)}?token={(tmp_path / 'sscard' / 'bridge-token').read_text().strip()}"
        with connect(url) as counter, connect(url) as other:
            counter.send(json.dumps({"function": "iVerifyPIN", "iType": 1, "id": 7}))
            asked = json.loads(counter.recv(timeout=30))
            assert asked["type"] == "pin-request" and asked["request"] == 7 and asked["prompt"] == "current"
            assert asked["timeout"] == 20
            other.send(json.dumps({"function": "iReadCardBas", "iType": 3}))
            other.send(json.dumps({"type": "pin", "pin_id": asked["pin_id"], "pin": "000000"}))  # not the one asked
            assert json.loads(other.recv(timeout=30))["type"] == "error"
            counter.send(json.dumps({"type": "pin", "pin_id": asked["pin_id"], "pin": "123456"}))
            assert json.loads(counter.recv(timeout=30)) == {"code": 0, "output": "", "function": "iVerifyPIN", "id": 7}
            read = json.loads(other.recv(timeout=30))
            assert read["code"] == 0 and split_fields(read["output"])[4] == "陈晓明"
            counter.send(json.dumps({"type": "pin", "pin_id": asked["pin_id"], "pin": "123456"}))   # used once
            assert json.loads(counter.recv(timeout=30))["type"] == "error"
            # PIN UNBLOCK asks for no PIN (key 06 and a MAC through the PSAM), so no question comes
            assert ask(counter, function="iUnblockPIN", iType=1)["code"] == 0
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert "PIN" not in out + err and "123456" not in out + err        # nothing prompted, nothing logged


def test_a_bridge_never_uses_the_console_pin_entry(images):
    driver = SSCardDriver(images.terminal(images.card("gen2")))       # console entry by default
    with BackgroundBridge(Bridge(driver)) as bg:
        with connect(bg.url) as ws:
            ws.send(json.dumps({"function": "iVerifyPIN", "iType": 1}))
            asked = json.loads(ws.recv(timeout=30))
            assert asked["type"] == "pin-request"
            ws.send(json.dumps({"type": "pin", "pin_id": asked["pin_id"], "cancel": True}))
            assert json.loads(ws.recv(timeout=30))["code"] == -31
    assert driver.pin_entry is not console_pin_entry


def test_page_pin_entry_can_be_switched_off(images):
    driver = SSCardDriver(images.terminal(images.card("gen2")))
    with BackgroundBridge(Bridge(driver, page_pin=False)) as bg:
        with connect(bg.url) as ws:
            reply = ask(ws, function="iVerifyPIN", iType=1)
            assert reply["code"] == -31 and "PIN entry is not available" in reply["output"]
