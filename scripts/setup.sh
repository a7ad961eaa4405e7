#!/usr/bin/env bash
# Install everything enforcer and its tests need on a fresh Debian 12 machine, idempotently (run
# as root): the lab's Debian packages (.ci/lab-packages.sh: FRR, Open vSwitch, nftables, iperf3,
# sshd, ping), PostgreSQL for the multi-instance store tests, Python 3.11 with venv, then a
# virtualenv in .venv with enforcer and its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# tmux: the terminal tests drive a real TTY; chromium + chromium-driver: the web console's browser tests.
OTHER_PACKAGES=(postgresql tmux chromium chromium-driver)
command -v python3.11 >/dev/null || OTHER_PACKAGES+=(python3.11)
# Debian's python3.11 has no ensurepip without python3.11-venv (pyenv or CI images bring their own).
python3.11 -c "import ensurepip" 2>/dev/null || OTHER_PACKAGES+=(python3.11-venv)

if command -v apt-get >/dev/null; then
  bash .ci/lab-packages.sh "${OTHER_PACKAGES[@]}" \
    || echo "!! could not install Debian packages: the live lab and PostgreSQL tests cannot run" >&2
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/pip ]; then
  echo "== creating .venv with $($PY --version)"
  rm -rf .venv
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import enforcer, napalm, os_ken, schemathesis, psycopg" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  echo "== installing enforcer and its test dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  touch .venv/.installed
fi
