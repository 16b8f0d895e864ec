"""``sscard serve`` and sscard.toml (host.config): the reader, the port and the device number the bridge uses when the
command line leaves them out, which source wins, and a file that cannot be used (exit 2, the file and the key
named, no traceback). Each bridge runs as a user runs it, in a process of its own, from a folder of the test's."""
from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
from websockets.sync.client import connect

from host.standard.formats import split_fields
from tests.support.cli import SSCARD



def serve(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(SSCARD + ["serve", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


def read_through_bridge(env: dict[str, str], cwd: Path, *args: str) -> list[str]:
    """Start ``sscard serve ARGS``, ask iReadCardBas(3) over the WebSocket, stop it (SIGINT): the output's fields."""
    proc = subprocess.Popen(SSCARD + ["serve", "--no-page", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd, env=env)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"ws://127\.0\.0\.1:\d+/", line)
        assert match, line + (proc.stderr.read() if proc.stderr else "")
        token = (Path(env["XDG_CONFIG_HOME"]) / "sscard" / "bridge-token").read_text().strip()
        with connect(f"{match.group(0)}?token={token}") as ws:
            ws.send(json.dumps({"function": "iReadCardBas", "iType": 3}))
            reply = json.loads(ws.recv(timeout=30))
        assert reply["code"] == 0, reply
        return split_fields(reply["output"])
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    """Where the bridge, started in ``tmp_path``, finds its config file (./sscard.toml)."""
    return tmp_path / "sscard.toml"


def test_reader_and_device_number_from_the_file(env: dict[str, str], tmp_path: Path, conf: Path) -> None:
    conf.write_text('reader = "sim:shenzhen-gen3"\ndevice_number = "CTR-07"\n', encoding="utf-8")
    fields = read_through_bridge(env, tmp_path, "--port", "0")
    assert (fields[2], fields[-1]) == ("B44030002", "CTR-07")
    # $SSCARD_READER wins over the file's reader, the command line over both; the device number stays the file's
    fields = read_through_bridge(dict(env, SSCARD_READER="sim:foshan-gen2"), tmp_path, "--port", "0")
    assert (fields[2], fields[-1]) == ("C44060003", "CTR-07")
    fields = read_through_bridge(dict(env, SSCARD_READER="sim:foshan-gen2"), tmp_path, "--port", "0",
                                 "--reader", "sim", "--device-number", "CTR-99")
    assert (fields[2], fields[-1]) == ("A44010001", "CTR-99")


def test_port_from_the_file_unless_given(env: dict[str, str], tmp_path: Path, conf: Path) -> None:
    assert "http://127.0.0.1:13526/#token=" in serve(env, tmp_path, "--show-token").stdout    # built-in default
    conf.write_text("port = 13600\n", encoding="utf-8")
    assert "http://127.0.0.1:13600/#token=" in serve(env, tmp_path, "--show-token").stdout
    assert "http://127.0.0.1:13700/#token=" in serve(env, tmp_path, "--show-token", "--port", "13700").stdout


def test_the_xdg_file_is_read_when_the_folder_has_none(env: dict[str, str], tmp_path: Path) -> None:
    (Path(env["XDG_CONFIG_HOME"]) / "sscard" / "sscard.toml").write_text("port = 13601\n", encoding="utf-8")
    assert "http://127.0.0.1:13601/#token=" in serve(env, tmp_path, "--show-token").stdout


@pytest.mark.parametrize("text, message", [
    ("port = 70000\n", "port must be from 1 to 65535, not 70000"),
    ('port = "13526"\n', "port must be an integer, not a string"),
    ('device_number = "A$B"\n', "device_number may not contain | or $"),
    ('reader = "sim"\nhost = "0.0.0.0"\n', "unknown key 'host'"),
])
def test_a_bad_file_stops_the_bridge_with_exit_2(env: dict[str, str], tmp_path: Path, conf: Path, text: str,
                                                 message: str) -> None:
    conf.write_text(text, encoding="utf-8")
    done = serve(env, tmp_path, "--no-page")
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.startswith(f"sscard: config file {conf}: {message}")
