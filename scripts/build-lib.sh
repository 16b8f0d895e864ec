#!/usr/bin/env bash
# Build build/libsscard.so and build/sscard.h (README "Native library"): the standard interface as a C library
# that runs the project's Python driver inside the caller's process (native/sscard.c says how and why).
#
# Headers and libpython come from the venv's own Python (its sysconfig), never from whatever python3-config
# is first on PATH: the library must embed the very interpreter whose site-packages the venv holds. The
# project folder and the venv's python are baked in as defaults (SSCARD_HOME / SSCARD_PYTHON override them
# at run time), and libpython's folder is the library's RUNPATH, so callers need no LD_LIBRARY_PATH.
# Idempotent and quick; the output is replaced atomically. SSCARD_BUILD_DIR (default build) and EXTRA_CFLAGS
# (e.g. -fsanitize=address,undefined, which the tests use) change where and how.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
PY=.venv/bin/python
OUT=${SSCARD_BUILD_DIR:-build}
CC=${CC:-gcc}

[ -x "$PY" ] || { echo "build-lib: no $PY; run make setup first" >&2; exit 1; }
command -v "$CC" >/dev/null || { echo "build-lib: no C compiler ($CC); run make setup as root" >&2; exit 1; }

# include dir, libpython to link (full path), its folder, and the venv's python as an absolute path
mapfile -t PYINFO < <("$PY" - <<'EOF'
import os, sys, sysconfig
v = sysconfig.get_config_var
inc = sysconfig.get_paths()["include"]
libdir = v("LIBDIR") or ""
name = v("LDLIBRARY") or ""
lib = os.path.join(libdir, name)
if not name.endswith(".so"):          # a static build: look for the shared library next to it
    lib = os.path.join(libdir, f"libpython{v('LDVERSION')}.so")
print(inc)
print(lib)
print(os.path.dirname(os.path.realpath(lib)) if os.path.exists(lib) else libdir)
print(os.path.abspath(sys.executable))
print(v("VERSION"))
EOF
)
INC=${PYINFO[0]} LIB=${PYINFO[1]} LIBDIR=${PYINFO[2]} VENV_PY=${PYINFO[3]} PYVER=${PYINFO[4]}

if [ ! -f "$INC/Python.h" ]; then
  echo "build-lib: no Python.h in $INC (the headers of the venv's Python $PYVER); run make setup as root" >&2
  exit 1
fi
if [ ! -e "$LIB" ]; then
  echo "build-lib: no shared libpython ($LIB): the venv's Python $PYVER was built without --enable-shared;" \
       "make the venv with a Python that has libpython$PYVER.so" >&2
  exit 1
fi

mkdir -p "$OUT"
# The baked-in defaults as C string literals (octal escapes: any path is safe).
c_string() { "$PY" -c 'import sys; print("\"" + "".join(chr(b) if 32 <= b < 127 and chr(b) not in "\"\\?" else "\\%03o" % b for b in sys.argv[1].encode()) + "\"")' "$1"; }
tmp_h=$(mktemp "$OUT/.sscard_build.h.XXXXXX")
{
  echo "/* written by scripts/build-lib.sh: where the library looks for the project when nothing says otherwise */"
  echo "#define SSCARD_HOME_DEFAULT $(c_string "$ROOT")"
  echo "#define SSCARD_PYTHON_DEFAULT $(c_string "$ROOT/.venv/bin/python")"
} >"$tmp_h"
mv -f "$tmp_h" "$OUT/sscard_build.h"

tmp_so=$(mktemp "$OUT/.libsscard.so.XXXXXX")
trap 'rm -f "$tmp_so"' EXIT
# shellcheck disable=SC2086  # EXTRA_CFLAGS is a list of flags
"$CC" -shared -fPIC -O2 -g -std=gnu11 -Wall -Wextra -Werror -fvisibility=hidden ${EXTRA_CFLAGS:-} \
  -I native -I "$OUT" -I "$INC" -o "$tmp_so" native/sscard.c \
  "$LIB" -Wl,-rpath,"$LIBDIR" -Wl,--no-undefined -ldl -lpthread
mv -f "$tmp_so" "$OUT/libsscard.so"
trap - EXIT
cp native/sscard.h "$OUT/sscard.h.tmp" && mv -f "$OUT/sscard.h.tmp" "$OUT/sscard.h"
echo "build-lib: $OUT/libsscard.so and $OUT/sscard.h (Python $PYVER from $LIBDIR; project $ROOT)"
