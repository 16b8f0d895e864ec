"""sscard.toml (host.config) as the command line uses it: which file is read, which source wins for the reader
(command line > $SSCARD_READER > the file > sim), the file's psam joined to its reader, and a file that cannot be
used: exit 2 with the file, the key and the problem, never a traceback.

Every command runs as a user runs it, in a process of its own, from a folder of the test's (./sscard.toml) with
its own $XDG_CONFIG_HOME and no SSCARD_* variables of the developer's."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from firmware_sim.demo import DEMO_DIR
from host import config
from host.config import ConfigError
from tests.support.cli import SSCARD



def sscard(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(SSCARD + list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


def card_number(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = sscard(env, cwd, "read", "--json", *args)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["card_number"])


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- precedence ---------------------------------------------------------------------------------------------
def test_reader_precedence_command_line_environment_file_default(env: dict[str, str], tmp_path: Path) -> None:
    assert card_number(env, tmp_path) == "A44010001"                                  # built-in default: sim
    write(tmp_path / "sscard.toml", 'reader = "sim:shenzhen-gen3"\n')
    assert card_number(env, tmp_path) == "B44030002"                                  # the file
    env_reader = dict(env, SSCARD_READER="sim:foshan-gen2")
    assert card_number(env_reader, tmp_path) == "C44060003"                           # $SSCARD_READER over it
    assert card_number(env_reader, tmp_path, "--reader", "sim") == "A44010001"        # the command line over all


def test_which_file_sscard_config_then_current_folder_then_xdg(env: dict[str, str], tmp_path: Path) -> None:
    write(Path(env["XDG_CONFIG_HOME"]) / "sscard" / "sscard.toml", 'reader = "sim:foshan-gen2"\n')
    assert card_number(env, tmp_path) == "C44060003"
    write(tmp_path / "sscard.toml", 'reader = "sim:shenzhen-gen3"\n')
    assert card_number(env, tmp_path) == "B44030002"                                  # ./sscard.toml first
    named = write(tmp_path / "elsewhere" / "bench.toml", 'reader = "sim"\n')
    assert card_number(dict(env, SSCARD_CONFIG=str(named)), tmp_path) == "A44010001"   # $SSCARD_CONFIG first


def guangzhou_psam(tmp_path: Path) -> Path:
    """A copy of the Guangzhou demo PSAM (a PSAM image given by path is written back to)."""
    return Path(shutil.copy(DEMO_DIR / "psam-440100.json", tmp_path / "psam.json"))


def test_psam_joins_the_files_reader(env: dict[str, str], tmp_path: Path) -> None:
    write(tmp_path / "sscard.toml", f'reader = "sim:shenzhen-gen3"\npsam = "{guangzhou_psam(tmp_path)}"\n')
    done = sscard(env, tmp_path, "read", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["terminal_number"] == "440100000001"               # the PSAM the file names
    write(tmp_path / "sscard.toml", 'reader = "sim:shenzhen-gen3"\npsam = "/nonexistent/psam.json"\n')
    done = sscard(env, tmp_path, "read")
    assert done.returncode == 2
    assert "/nonexistent/psam.json" in done.stderr and str(tmp_path / "sscard.toml") in done.stderr
    # a reader from the command line is used as given: the file's psam does not join it
    assert card_number(env, tmp_path, "--reader", "sim:foshan-gen2") == "C44060003"


# --- a file that cannot be used ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, key, problem", [
    ('reader = "sim"\ncolour = "blue"\n', "unknown key 'colour'", "keys: reader, psam, port"),
    ("reader = 3\n", "reader", "must be a string, not an integer"),
    ('reader = "nonsense:x"\n', "reader", "unknown reader kind 'nonsense'"),
    ('reader = ""\n', "reader", "empty reader spec"),
    ('psam = "SAM"\n', "psam", "needs reader in the same file"),
    ('reader = "pcsc:ACS,psam=1"\npsam = "2"\n', "psam", "given twice"),
    ('port = 0\n', "port", "from 1 to 65535"),
    ('port = "13526"\n', "port", "must be an integer, not a string"),
    ('device_number = "CTR|01"\n', "device_number", "may not contain | or $"),
    ('pin_entry = "pad"\n', "pin_entry", "must be one of console, none"),
    ('device-number = "CTR-01"\n', "unknown key 'device-number'", "did you mean device_number?"),
    ('reader = \n', "not valid TOML", "line 1"),
])
def test_a_bad_file_is_exit_2_naming_the_file_key_and_problem(env: dict[str, str], tmp_path: Path, text: str,
                                                              key: str, problem: str) -> None:
    path = write(tmp_path / "sscard.toml", text)
    done = sscard(env, tmp_path, "read")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    message = done.stderr.strip()
    assert message.startswith(f"sscard: config file {path}: ") and key in message and problem in message
    assert message.count("\n") == 0


def test_sscard_config_naming_no_file_is_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    done = sscard(dict(env, SSCARD_CONFIG=str(tmp_path / "missing.toml")), tmp_path, "read")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"$SSCARD_CONFIG names {tmp_path / 'missing.toml'}, which is not a file" in done.stderr


def test_the_file_is_read_only_by_commands_that_need_it(env: dict[str, str], tmp_path: Path) -> None:
    write(tmp_path / "sscard.toml", "colour = 1\n")
    assert card_number(env, tmp_path, "--reader", "sim") == "A44010001"
    assert card_number(dict(env, SSCARD_READER="sim:foshan-gen2"), tmp_path) == "C44060003"
    assert sscard(env, tmp_path, "card", "--help").returncode == 0
    assert sscard(env, tmp_path, "read").returncode == 2


def test_an_unusable_reader_from_the_file_says_where_it_came_from(env: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path / "sscard.toml", 'reader = "sim:/nonexistent/card.json"\n')
    done = sscard(env, tmp_path, "read")
    assert done.returncode == 2 and f"(reader sim:/nonexistent/card.json from {path})" in done.stderr


# --- the loader itself ---------------------------------------------------------------------------------------
def test_parse_keeps_every_key_and_quotes_the_psam(tmp_path: Path) -> None:
    path = tmp_path / "sscard.toml"
    got = config.parse('reader = "pcsc:ACS"\npsam = "SAM, slot 1"\nport = 13600\ndevice_number = "柜台-01"\n'
                       'pin_entry = "none"\n', path)
    assert got == config.Config(path, "pcsc:ACS,psam=SAM,, slot 1", 13600, "柜台-01", "none")
    assert config.parse('reader = "pcsc"\npsam = "1"\n', path).reader == "pcsc:psam=1"
    assert (config.parse('reader = "ccid-serial:/dev/ttyS0,model=GemPCPinPad"\npsam = "/dev/ttyS1"\n', path).reader
            == "ccid-serial:/dev/ttyS0,model=GemPCPinPad,psam=/dev/ttyS1")
    with pytest.raises(ConfigError, match="psam may not contain ','"):
        config.parse('reader = "ccid-serial:/dev/ttyS0"\npsam = "a,b"\n', path)
    assert config.parse("", path) == config.Config(path)


def test_reader_spec_reports_its_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SSCARD_READER", raising=False)
    path = tmp_path / "sscard.toml"
    file = config.parse('reader = "sim:foshan-gen2"\n', path)
    assert config.reader_spec("pcsc:1", file) == ("pcsc:1", "the command line")
    assert config.reader_spec(None, file) == ("sim:foshan-gen2", str(path))
    assert config.reader_spec(None, config.Config()) == ("sim", "the built-in default")
    monkeypatch.setenv("SSCARD_READER", "sim:shenzhen-gen3")
    assert config.reader_spec(None, file) == ("sim:shenzhen-gen3", "$SSCARD_READER")
