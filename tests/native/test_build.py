"""What `make lib` produces: the exported functions (the Python driver's set, each with its _Ex variant), a
header that declares exactly them and compiles as C and C++, and a library that embeds the venv's Python."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from host.standard import FUNCTIONS
from tests.native.conftest import HEADER, ROOT, VENV_PY
from tests.support.prereq import missing

CONTROL = {"sscard_set_pin_callback", "sscard_close"}


def _exports(lib: Path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.split()[1:2] == ["T"]}


def test_exports_are_the_drivers_functions_with_ex_variants_and_nothing_else(native_lib):
    expected = set(FUNCTIONS) | {f + "_Ex" for f in FUNCTIONS} | CONTROL
    assert _exports(native_lib) == expected


def test_header_declares_every_export(native_lib):
    declared = set(re.findall(r"^SSCARD_API (?:int|long) (\w+)\(", HEADER.read_text(encoding="utf-8"), re.M))
    assert declared == _exports(native_lib)


@pytest.mark.parametrize("compiler, flags", [("gcc", ["-x", "c", "-std=c99", "-pedantic"]),
                                             ("g++", ["-x", "c++", "-std=c++11", "-pedantic"])])
def test_header_compiles_alone(native_lib, tmp_path, compiler, flags):
    if shutil.which(compiler) is None:
        missing(f"{compiler} is not installed (Debian package {compiler})")
    src = tmp_path / "use.c"
    src.write_text('#include "sscard.h"\nint use(void) { char b[SSCARD_OUTINFO_SIZE]; return iReadCardBas(3, b); }\n')
    done = subprocess.run([compiler, *flags, "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", str(HEADER.parent),
                           str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_national_signatures_as_counter_software_declares_them(native_lib):
    text = HEADER.read_text(encoding="utf-8")
    for decl in ["int iReadCardBas(int iType, char *pOutInfo);",
                 "int iReadCard(int iType, int iAuthType, char *pCardInfo, char *pFileAddr, char *pOutInfo);",
                 "int iWriteCard(int iType, char *pCardInfo, char *pFileAddr, char *pWriteData, char *pOutInfo);",
                 "int iReloadPIN(int iType, char *pCardInfo, char *pOutInfo);",
                 "int iReadCardBas_HSM_Step2(char *pKey, char *pOutInfo);",
                 "int iDoDebit_HSM_Step1(int iType, char *pCardInfo, char *pPayInfo, char *pOutInfo);",
                 "int iDoDebit_HSM_Step2(char *pKey, char *pOutInfo);",
                 "long iWriteCardBas(int iType, char *pOutInfo);",
                 "int iWriteCardBas_HSM_Step1(char *pKey, char *pWriteInfo, char *pOutInfo);",
                 "int iGetReaderInfo(char *pReaderSN, char *pPsamTermNo);"]:
        assert decl in text


def test_library_embeds_the_venvs_python(native_lib):
    """libpython resolves (through the RUNPATH, no LD_LIBRARY_PATH) to the library of the venv's own Python."""
    want = subprocess.run([str(VENV_PY), "-c", "import sysconfig, os; v = sysconfig.get_config_var; "
                           "print(os.path.realpath(os.path.join(v('LIBDIR'), v('INSTSONAME'))))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ldd = subprocess.run(["ldd", str(native_lib)], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"}).stdout
    found = re.search(r"libpython\S+ => (\S+)", ldd)
    assert found, ldd
    assert str(Path(found.group(1)).resolve()) == want
    assert "not found" not in ldd


def test_baked_project_folder_is_this_repository(native_lib):
    text = (ROOT / "build" / "sscard_build.h").read_text()
    assert f'"{ROOT}"' in text and f'"{ROOT}/.venv/bin/python"' in text
