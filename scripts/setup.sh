#!/usr/bin/env bash
# Install everything enforcer and its tests need on a fresh Debian 12 machine, idempotently (run
# as root): the lab's Debian packages (.ci/lab-packages.sh: FRR, Open vSwitch, nftables, iperf3,
# sshd, ping), PostgreSQL for the multi-instance store tests, Python 3.11 with venv, then a
# virtualenv in .venv with enforcer and its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# tmux: the terminal tests drive a real TTY; chromium + chromium-driver: the web console's browser tests.
OTHER_PACKAGES=(postgresql tmux chromium chromium-driver)
# The real detectors the tests run against (tests/detectors): Alertmanager (amtool), Prometheus,
# FastNetMon with hping3 for its flood, CrowdSec and its firewall bouncer. None of their services
# is started; each test runs its own instance on loopback or in a lab namespace.
OTHER_PACKAGES+=(prometheus prometheus-alertmanager fastnetmon hping3 crowdsec crowdsec-firewall-bouncer)
# CrowdSec's postinst registers with the Central API (a request to api.crowdsec.net) unless this
# file already holds something: nothing of the test suite may reach outside this machine.
if [ ! -s /etc/crowdsec/online_api_credentials.yaml ]; then
  mkdir -p /etc/crowdsec
  echo "# CAPI registration disabled by enforcer's setup: no traffic off this machine" \
    > /etc/crowdsec/online_api_credentials.yaml
fi
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
if ! .venv/bin/python -c "import enforcer, napalm, os_ken, schemathesis, psycopg, nornir" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  echo "== installing enforcer and its test dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  touch .venv/.installed
fi
