"""libsscard.so and sscard.toml (host.config, the loader the command line and the bridge use too), through
examples/read_card.c: which file the library reads (``$SSCARD_CONFIG``, the program's current folder, the XDG
folder), the file's psam joined to its reader, and a file that cannot be used (-11 naming the file and the key)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from firmware_sim.demo import DEMO_DIR
from tests.native.conftest import BUILD, ROOT, Compile, run


@pytest.fixture
def read_card(compile_c: Compile) -> Path:
    return compile_c(ROOT / "examples" / "read_card.c", "-L", str(BUILD), "-lsscard", f"-Wl,-rpath,{BUILD}")


@pytest.fixture
def env(lib_env: dict[str, str]) -> dict[str, str]:
    """The library's clean environment without $SSCARD_READER, so the config file decides the reader."""
    return {k: v for k, v in lib_env.items() if k != "SSCARD_READER"}


def fields(read_card: Path, env: dict[str, str], cwd: Path) -> list[str]:
    done = run([read_card], env, cwd)
    assert done.returncode == 0, done.stderr.decode("gbk", "replace")
    return done.stdout.decode("gbk").rstrip("\n").split("|")[:-1]


def test_the_programs_current_folder_comes_before_the_xdg_folder(read_card: Path, env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    xdg = Path(env["XDG_CONFIG_HOME"]) / "sscard"
    xdg.mkdir()
    (xdg / "sscard.toml").write_text('reader = "sim:foshan-gen2"\ndevice_number = "XDG-01"\n', encoding="utf-8")
    work = tmp_path / "counter"
    work.mkdir()
    f = fields(read_card, env, work)
    assert (f[2], f[10]) == ("C44060003", "XDG-01")
    (work / "sscard.toml").write_text('reader = "sim:shenzhen-gen3"\ndevice_number = "CWD-01"\n', encoding="utf-8")
    f = fields(read_card, env, work)
    assert (f[2], f[10]) == ("B44030002", "CWD-01")
    named = tmp_path / "named.toml"
    named.write_text('device_number = "NAMED-01"\n', encoding="utf-8")
    f = fields(read_card, dict(env, SSCARD_CONFIG=str(named)), work)
    assert (f[2], f[10]) == ("A44010001", "NAMED-01")       # no reader in that file: sim


def guangzhou_psam(tmp_path: Path) -> Path:
    """A copy of the Guangzhou demo PSAM (a PSAM image given by path is written back to)."""
    return Path(shutil.copy(DEMO_DIR / "psam-440100.json", tmp_path / "psam.json"))


def test_psam_joins_the_files_reader(read_card: Path, env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "sscard.toml").write_text(
        f'reader = "sim:shenzhen-gen3"\npsam = "{guangzhou_psam(tmp_path)}"\n', encoding="utf-8")
    f = fields(read_card, env, tmp_path)
    assert (f[2], f[9]) == ("B44030002", "440100000001")    # the terminal number of the PSAM the file names
    f = fields(read_card, dict(env, SSCARD_READER="sim:shenzhen-gen3"), tmp_path)
    assert (f[2], f[9]) == ("B44030002", "440300000001")    # $SSCARD_READER is used as given, with its own PSAM


@pytest.mark.parametrize("text, message", [
    ('port = 0\n', "port must be from 1 to 65535, not 0"),
    ('psam = "SAM"\n', "psam needs reader in the same file"),
    ('reader = "nonsense"\n', "reader is not a reader spec: unknown reader kind 'nonsense'"),
    ('device_number = 7\n', "device_number must be a string, not an integer"),
])
def test_a_bad_file_is_minus_11_naming_the_file_and_the_key(read_card: Path, env: dict[str, str], tmp_path: Path,
                                                            text: str, message: str) -> None:
    path = tmp_path / "sscard.toml"
    path.write_text(text, encoding="utf-8")
    done = run([read_card], env, tmp_path)
    assert done.returncode == 1
    assert done.stderr.decode("gbk").startswith(f"iReadCardBas failed: -11 config file {path}: {message}")
