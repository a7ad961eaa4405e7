#!/usr/bin/env bash
# Install everything enforcer and its tests need on a fresh Debian 12 machine, idempotently:
# Debian packages for the lab (FRR, Open vSwitch, nftables, iperf3, sshd, ping) and PostgreSQL,
# then a virtualenv in .venv with enforcer and its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  frr frr-pythontools openvswitch-switch nftables iperf3 openssh-server iproute2 ethtool
  iputils-ping postgresql hyperfine time
)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  if as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
    :
  else
    echo "!! could not install Debian packages (no root or no apt?): the live lab tests will not be able to run" >&2
  fi
fi
# None of these services may run from the package's own units: the lab starts private instances.
for svc in frr openvswitch-switch ssh postgresql; do
  as_root systemctl disable --now "$svc" >/dev/null 2>&1 || true
done

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import enforcer, napalm, os_ken, schemathesis" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  echo "== installing enforcer and its test dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  touch .venv/.installed
fi
