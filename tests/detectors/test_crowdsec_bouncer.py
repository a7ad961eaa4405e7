"""The real crowdsec-firewall-bouncer 0.0.25 enforces enforcer's decisions on a Linux host.

The host is a scratch network namespace (its own nftables, its own loopback) where ``enforcer
serve`` and the bouncer run; a second namespace is the offender, one veth away. The bouncer polls
enforcer's ``/v1/decisions/stream`` with an enforcer token as its API key, exactly as it polls a
CrowdSec LAPI, and drops the offender's traffic in its own ``crowdsec`` table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enforcer.cli import app

from ..helpers import free_port, wait_for
from .conftest import daemon

pytestmark = pytest.mark.lab  # root: network namespaces and nftables

HOST_IP, OFFENDER_IP, VICTIM_IP = "192.0.2.78", "192.0.2.77", "192.0.2.90"

BOUNCER = """\
mode: nftables
pid_dir: {dir}/
update_frequency: 1s
daemonize: false
log_mode: file
log_dir: {dir}/
log_level: debug
api_url: {url}/
api_key: {key}
insecure_skip_verify: false
disable_ipv6: true
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: crowdsec-blacklists
nftables:
  ipv4:
    enabled: true
    set-only: false
    table: crowdsec
    chain: crowdsec-chain
  ipv6:
    enabled: false
prometheus:
  enabled: false
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """(host, offender): two fresh namespaces joined by a veth, torn down by name on the way out."""
    n = os.getpid() % 100000
    host, offender = f"ecs-host-{n}", f"ecs-off-{n}"
    _ip("netns", "add", host)
    _ip("netns", "add", offender)
    try:
        _ip("-n", host, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", offender)
        for ns, addr in ((host, HOST_IP), (offender, OFFENDER_IP)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield host, offender
    finally:
        subprocess.run(["ip", "netns", "del", host], capture_output=True)
        subprocess.run(["ip", "netns", "del", offender], capture_output=True)


def _in(ns: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True)


def _pings(ns: str, dst: str) -> bool:
    return _in(ns, "ping", "-n", "-q", "-c", "1", "-W", "1", dst).returncode == 0


def _blacklist(ns: str) -> set[str]:
    done = _in(ns, "nft", "-j", "list", "set", "ip", "crowdsec", "crowdsec-blacklists")
    if done.returncode != 0:
        return set()
    found = set()
    for entry in json.loads(done.stdout)["nftables"]:
        for elem in entry.get("set", {}).get("elem", []):
            value = elem.get("elem", {}).get("val", elem) if isinstance(elem, dict) else elem
            found.add(value if isinstance(value, str) else json.dumps(value))
    return found


def test_crowdsec_firewall_bouncer_drops_what_enforcer_decided_and_lets_go_when_it_ends(
    namespaces, settings, token, tmp_path: Path
):
    host, offender = namespaces
    assert _pings(offender, HOST_IP)
    cli = ["--inventory", str(settings.inventory), "--db", settings.db, "--output", str(settings.output)]
    run = CliRunner()
    assert run.invoke(app, [*cli, "block", OFFENDER_IP, "--violation", "scanning", "--reason", "portscan"]).exit_code == 0
    assert run.invoke(app, [*cli, "block", VICTIM_IP, "--violation", "ddos-victim"]).exit_code == 0

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = ["ip", "netns", "exec", host, sys.executable, "-m", "enforcer.cli", *cli, "serve", "--listen",
             f"127.0.0.1:{port}", "--no-reconcile", "--log-level", "warning"]  # fmt: skip
    healthy = [sys.executable, "-c", f"import urllib.request; urllib.request.urlopen('{url}/healthz', timeout=1)"]
    config = tmp_path / "bouncer.yaml"
    config.write_text(BOUNCER.format(dir=tmp_path, url=url, key=token("host-bouncer", "reader")))
    with daemon(serve, tmp_path / "serve.log", lambda: _in(host, *healthy).returncode == 0):
        with daemon(["ip", "netns", "exec", host, "crowdsec-firewall-bouncer", "-c", config], tmp_path / "bouncer.out",
                    lambda: OFFENDER_IP in _blacklist(host)):  # fmt: skip
            assert _blacklist(host) == {OFFENDER_IP}, "a victim's address is no source to refuse"
            wait_for(lambda: not _pings(offender, HOST_IP), timeout=30, what="the host drops the offender")

            assert run.invoke(app, [*cli, "unblock", OFFENDER_IP]).exit_code == 0
            wait_for(lambda: OFFENDER_IP not in _blacklist(host), timeout=30, what="the bouncer got the deletion")
            wait_for(lambda: _pings(offender, HOST_IP), timeout=30, what="the offender is let through again")
