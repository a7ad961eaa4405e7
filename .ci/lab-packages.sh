#!/usr/bin/env bash
# Debian packages the network-namespace lab needs (enforcer lab up, tests/lab), plus any named as
# arguments, installed only
# when missing, so running this twice is cheap. The lab does not use their services:
# it runs private FRR, sshd and Open vSwitch instances under its own directory.
set -euo pipefail

LAB_PACKAGES=(
  frr frr-pythontools    # zebra, staticd, bgpd, vtysh; frr-reload.py (rollback to a checkpoint)
  nftables iproute2        # the edge firewall; namespaces, veths, bridges
  iperf3 iputils-ping      # traffic probes (there is no ping on a fresh machine)
  openssh-server           # the routers' management sshd (ssh-keygen too)
  openvswitch-switch ethtool  # the OpenFlow part of the lab
  util-linux procps        # unshare, setsid; sysctl
  gobgpd                   # GoBGP 3.10: the customer router of `lab up --customer-bgp gobgp`
  hyperfine                # bench/cli_startup.sh (and its tiny run in tests/test_bench_smoke.py)
  "$@"                     # whatever else the caller needs (scripts/setup.sh: PostgreSQL, Python)
)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${LAB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing lab packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packaged FRR service is not needed (the lab starts its own daemons); the system's sshd is
# left alone: the lab's sshds listen on their own loopback ports, and a CI runner may need port 22.
as_root systemctl disable --now frr >/dev/null 2>&1 || true
as_root systemctl disable --now gobgpd >/dev/null 2>&1 || true
