#!/usr/bin/env bash
# Run the whole test suite. Services the tests need (a private pcscd with vpcd and serial readers)
# are started by the test fixtures themselves and stopped at the end.
# SSCARD_STRICT=1: a missing system package (pcscd, libccid, vsmartcard-vpcd, chromium, …) fails the run
# instead of skipping a suite (tests/support/prereq.py); set SSCARD_STRICT=0 to allow the skips.
set -euo pipefail
cd "$(dirname "$0")/.."
export SSCARD_STRICT="${SSCARD_STRICT:-1}"
exec .venv/bin/python -m pytest -q "$@"
