#!/usr/bin/env bash
# Install everything sscard needs on a fresh Debian machine: system packages (as root), a .venv, the package.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(pcscd libccid vsmartcard-vpcd swig libpcsclite-dev gcc libc6-dev g++ pcsc-tools opensc util-linux chromium fonts-wqy-zenhei)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# apt_install WHY PKG…: install Debian packages as root (after apt-get update), else say how and stop.
apt_install() {
  local why=$1; shift
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing $* ($why)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "setup: missing $* ($why); run as root or: sudo apt-get install $*" >&2
    exit 1
  fi
}
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "system packages" "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# make lib embeds the venv's own Python: it needs that Python's headers (pyenv and python.org builds have them;
# Debian's /usr/bin/python3.X needs python3.X-dev, which also brings libpython3.X.so).
py_include=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
if [ ! -f "$py_include/Python.h" ]; then
  dev="python$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev"
  apt_install "headers of the venv's Python, for make lib" "$dev"
fi
stamp=.venv/.sscard-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi
