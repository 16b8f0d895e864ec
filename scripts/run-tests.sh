#!/usr/bin/env bash
# Run the whole test suite. Services the tests need (a private pcscd with vpcd and serial readers)
# are started by the test fixtures themselves (tests/conftest.py) and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -q "$@"
