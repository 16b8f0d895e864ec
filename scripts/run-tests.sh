#!/usr/bin/env bash
# Run the whole test suite: lint (ruff), types (mypy --strict on protocols/, the normal checks everywhere else),
# the tests, then the wheel run (scripts/wheel-run.sh: the fast suites against the built wheel in a clean venv).
# Any finding or failure fails the run. Services the tests need (a private pcscd with vpcd and serial readers)
# are started by the test fixtures themselves and stopped at the end.
# SSCARD_STRICT=1: a missing system package (pcscd, libccid, vsmartcard-vpcd, chromium, …) fails the run
# instead of skipping a suite (tests/support/prereq.py); set SSCARD_STRICT=0 to allow the skips.
# With arguments (`scripts/run-tests.sh tests/unit -k mac`), the checks run and pytest gets the arguments; the
# wheel run is left out.
set -euo pipefail
cd "$(dirname "$0")/.."
export SSCARD_STRICT="${SSCARD_STRICT:-1}"

step() { printf '== %s\n' "$*"; }

step "ruff check"
.venv/bin/ruff check --no-cache .
step "mypy --strict protocols"
.venv/bin/mypy --strict protocols
step "mypy (pyproject.toml [tool.mypy] files)"
.venv/bin/mypy
step "pytest"
.venv/bin/python -m pytest -q "$@"
if [ $# -eq 0 ]; then
  step "wheel run"
  bash scripts/wheel-run.sh
fi
