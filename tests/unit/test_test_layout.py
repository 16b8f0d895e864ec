"""The test suite cannot shadow the product: every test folder is a package under ``tests``, none is named
like a product package, and the product packages a test imports are the ones under test: the repository's, or in
the wheel run (scripts/wheel-run.sh, which sets SSCARD_TEST_INSTALLED=1) the installed wheel's."""
from __future__ import annotations

import importlib
import os
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = os.environ.get("SSCARD_TEST_INSTALLED") == "1"
PRODUCT = ("protocols", "firmware_sim", "hardware", "host")
TEST_DIRS = sorted({p.parent for p in (ROOT / "tests").rglob("*.py")} - {ROOT / "tests"})


@pytest.mark.parametrize("folder", TEST_DIRS, ids=[str(d.relative_to(ROOT)) for d in TEST_DIRS])
def test_every_test_folder_is_a_package_under_tests(folder: Path) -> None:
    assert (folder / "__init__.py").exists(), f"{folder.relative_to(ROOT)} has no __init__.py"
    assert folder.name not in PRODUCT, f"{folder.relative_to(ROOT)} is named like the product package {folder.name}"


def test_tests_is_one_package() -> None:
    assert (ROOT / "tests" / "__init__.py").exists()


@pytest.mark.parametrize("name", PRODUCT)
def test_product_packages_come_from_where_they_are_tested(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    where = Path(module.__file__).resolve().parent
    if INSTALLED:
        assert where == Path(sysconfig.get_paths()["purelib"]).resolve() / name
        assert not (ROOT / name).exists(), "the wheel run's folder holds a copy of the product"
    else:
        assert where == ROOT / name
