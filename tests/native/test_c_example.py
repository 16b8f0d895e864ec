"""examples/read_card.c compiled with gcc against build/sscard.h and linked with build/libsscard.so: it reads the
demo card, and the reader comes from $SSCARD_READER or the config file; what it cannot use gives -11 or -5."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from firmware_sim.demo import DEMO_DIR
from tests.native.conftest import BUILD, ROOT, run

EXAMPLE = ROOT / "examples" / "read_card.c"


@pytest.fixture
def read_card(compile_c) -> Path:
    return compile_c(EXAMPLE, "-L", str(BUILD), "-lsscard", f"-Wl,-rpath,{BUILD}")


def _fields(stdout: bytes) -> list[str]:
    text = stdout.decode("gbk").rstrip("\n")
    assert text.endswith("|")
    return text.split("|")[:-1]


def test_reads_the_demo_card(read_card, lib_env, tmp_path):
    done = run([read_card], lib_env, tmp_path)
    assert done.returncode == 0, done.stderr.decode("gbk", "replace")
    f = _fields(done.stdout)
    assert len(f) == 11
    assert f[:3] == ["440100", "440106198503127719", "A44010001"]
    assert f[4] == "陈晓明"                     # GBK on the wire: decoded as GBK above
    assert "陈晓明".encode("gbk") in done.stdout
    assert f[3].startswith("440100D156000005") and len(f[3]) == 32
    assert f[6:] == ["2.00", "20190315", "20290315", "440100000001", ""]


def test_gen3_card_through_the_embedded_runtime(read_card, lib_env, tmp_path):
    done = run([read_card], dict(lib_env, SSCARD_READER="sim:shenzhen-gen3"), tmp_path)
    assert done.returncode == 0
    f = _fields(done.stdout)
    assert (f[2], f[4], f[6]) == ("B44030002", "林婉婷", "3.00")


def test_reader_and_device_number_from_the_config_file(read_card, lib_env, tmp_path):
    env = dict(lib_env)
    del env["SSCARD_READER"]
    conf = Path(env["XDG_CONFIG_HOME"]) / "sscard"
    conf.mkdir()
    (conf / "sscard.toml").write_text('reader = "sim:shenzhen-gen3"\ndevice_number = "CTR-07"\n', encoding="utf-8")
    f = _fields(run([read_card], env, tmp_path).stdout)
    assert (f[2], f[10]) == ("B44030002", "CTR-07")
    # $SSCARD_READER wins over the file; $SSCARD_CONFIG names another file
    f = _fields(run([read_card], dict(env, SSCARD_READER="sim"), tmp_path).stdout)
    assert (f[2], f[10]) == ("A44010001", "CTR-07")
    other = tmp_path / "other.toml"
    other.write_text('reader = "sim:foshan-gen2"\n', encoding="utf-8")
    f = _fields(run([read_card], dict(env, SSCARD_CONFIG=str(other)), tmp_path).stdout)
    assert f[0] == "440600" and f[10] == ""


def test_without_any_configuration_the_emulator_is_read(read_card, lib_env, tmp_path):
    env = dict(lib_env)
    del env["SSCARD_READER"]
    assert _fields(run([read_card], env, tmp_path).stdout)[2] == "A44010001"


@pytest.mark.parametrize("toml, what", [
    ('reader = "sim"\ncolour = "blue"\n', "unknown key 'colour'"),
    ("reader = 3\n", "reader must be a string"),
    ('pin_entry = "pinpad"\n', "pin_entry must be one of"),
    ("reader = \n", "config file"),
])
def test_a_config_file_that_cannot_be_used_is_minus_11_naming_the_problem(read_card, lib_env, tmp_path, toml, what):
    path = tmp_path / "sscard.toml"
    path.write_text(toml, encoding="utf-8")
    done = run([read_card], dict(lib_env, SSCARD_CONFIG=str(path)), tmp_path)
    assert done.returncode == 1
    err = done.stderr.decode("gbk")
    assert err.startswith("iReadCardBas failed: -11 ") and what in err


@pytest.mark.parametrize("spec", ["sim:/nonexistent/card.json", "sim:{card},psam=/nonexistent/psam.json",
                                  "ccid-serial:socket://127.0.0.1:9", "nonsense"])
def test_a_reader_that_is_not_there_is_minus_11(read_card, lib_env, tmp_path, spec):
    card = shutil.copy(DEMO_DIR / "guangzhou-gen2.json", tmp_path / "card.json")
    done = run([read_card], dict(lib_env, SSCARD_READER=spec.format(card=card)), tmp_path)
    assert done.returncode == 1
    assert done.stderr.decode("gbk").startswith("iReadCardBas failed: -11 ")


@pytest.mark.parametrize("itype, code", [("0", -14), ("5", -14), ("-1", -14), ("2", -13)])
def test_itype_out_of_range(read_card, lib_env, tmp_path, itype, code):
    done = run([read_card, itype], lib_env, tmp_path)
    assert done.stderr.decode("gbk").startswith(f"iReadCardBas failed: {code} ")


@pytest.mark.parametrize("var, value", [("SSCARD_HOME", "/nonexistent/sscard"), ("SSCARD_PYTHON", "/nonexistent/python")])
def test_no_python_where_the_environment_points_is_minus_5_saying_so(read_card, lib_env, tmp_path, var, value):
    done = run([read_card], dict(lib_env, **{var: value}), tmp_path)
    assert done.returncode == 1
    err = done.stderr.decode("gbk")
    assert err.startswith("iReadCardBas failed: -5 no Python at /nonexistent/")


def test_sscard_home_names_the_project(read_card, lib_env, tmp_path):
    done = run([read_card], dict(lib_env, SSCARD_HOME=str(ROOT)), tmp_path)
    assert done.returncode == 0 and _fields(done.stdout)[2] == "A44010001"


def test_a_python_that_cannot_import_the_project_is_minus_5(read_card, lib_env, tmp_path):
    venv = tmp_path / "empty-venv"
    done = run([ROOT / ".venv" / "bin" / "python", "-m", "venv", "--without-pip", venv], lib_env, tmp_path)
    assert done.returncode == 0
    done = run([read_card], dict(lib_env, SSCARD_PYTHON=str(venv / "bin" / "python")), tmp_path)
    assert done.returncode == 1
    err = done.stderr.decode("gbk")
    assert err.startswith("iReadCardBas failed: -5 cannot import host.standard.native") and "No module named" in err


def test_the_embedded_python_is_the_venvs(read_card, lib_env, tmp_path):
    """With nothing set but the reader, the program (not run from the venv, not in the project folder) imports the
    driver and its dependencies from the project's venv and the project folder baked in at build time."""
    done = run([read_card], dict(lib_env, PYTHONVERBOSE="1"), tmp_path)
    assert done.returncode == 0
    log = done.stderr.decode("utf-8", "replace")
    site = ROOT / ".venv" / "lib"
    assert re.search(rf"{re.escape(str(site))}/python3\.\d+/site-packages/cryptography/", log)
    assert f"{ROOT}/host/standard/" in log
