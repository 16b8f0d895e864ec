#!/usr/bin/env bash
# The wheel run: what a user installs is what gets tested. Builds the wheel from a clean copy of the working tree
# (`pip wheel --no-deps`), installs it non-editable into a new venv, and runs the fast suites (tests/unit, tests/card,
# tests/host_lib, tests/replay, tests/issuance) against it from a scratch folder that holds a copy of tests/ and
# pyproject.toml (for pytest's settings) and no product package, so `import protocols` can only find the wheel's.
# Tests that read the repository's own files (docs, sources) are marked source_tree and left to the main run.
# Called by scripts/run-tests.sh after the main run; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITES=(tests/unit tests/card tests/host_lib tests/replay tests/issuance)
PY=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sscard-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS

# 1. Build from a copy of the files git knows (tracked, or new and not ignored): an in-tree build would leave
#    build/ behind, and a module deleted from the tree could come back from a stale build/lib into the wheel.
mkdir -p "$WORK/src" "$WORK/dist" "$WORK/run"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$WORK/src"
.venv/bin/pip wheel -q --no-deps -w "$WORK/dist" "$WORK/src"
wheel=$(ls "$WORK"/dist/sscard-*.whl)

# 2. A clean venv with the wheel (its dependencies from the index or pip's cache), the test runner and the tests'
#    own libraries (snowland-smx: the independent SM2 the PKI tests verify with) at the versions the main venv has.
"$PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
runner=$(.venv/bin/pip freeze 2>/dev/null | grep -iE '^(pytest|hypothesis|snowland-smx)==' \
         || echo "pytest hypothesis snowland-smx")
# shellcheck disable=SC2086  # several requirement words
"$VPY" -m pip install -q --disable-pip-version-check "$wheel" $runner

# 3. The tests, away from the working tree.
cp -r tests pyproject.toml "$WORK/run/"
find "$WORK/run" -name __pycache__ -prune -exec rm -rf {} +
cd "$WORK/run"
unset PYTHONPATH
export SSCARD_TEST_INSTALLED=1   # tests/unit/test_test_layout.py then expects the product in site-packages
"$VPY" - <<'EOF'
import importlib, pathlib, sysconfig
site = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
for name in ("protocols", "firmware_sim", "hardware", "host"):
    where = pathlib.Path(importlib.import_module(name).__file__).resolve().parent
    assert where == site / name, f"{name} imported from {where}, not from the wheel in {site}"
print(f"wheel run: the product packages import from {site}")
EOF
echo "wheel run: $(basename "$wheel") installed in $((SECONDS - start)) s"
"$VPY" -m pytest -q -p no:cacheprovider -m "not source_tree" "${SUITES[@]}" "$@"
echo "wheel run: $((SECONDS - start)) s in all"
