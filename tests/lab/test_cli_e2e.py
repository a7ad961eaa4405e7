"""Issue 3 acceptance: every action through the CLI a NOC engineer uses, proven by its effect.

Each test stores decisions in its own database, runs ``enforcer apply`` against the live lab
(FRR over SSH, nftables in the edge's namespace) and checks what the network does: pings fail,
the kernel holds a blackhole route, a hijacked prefix leaves the BGP tables, TCP/25 is dropped
while TCP/80 passes, UDP is capped. ``clean_lab`` resets the routers after each test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from enforcer.lab import probes
from enforcer.lab.probes import address, kernel_route, ping, tcp_connect, tcp_listener, udp_throughput

pytestmark = pytest.mark.lab


@pytest.fixture
def enforcer(lab, lab_db, tmp_path: Path):
    """``enforcer …`` as a subprocess against the lab inventory and the lab's (emptied) store."""
    env = {
        **os.environ,
        "ENFORCER_INVENTORY": str(lab.inventory_path),
        "ENFORCER_DB": lab_db,
        "ENFORCER_OUTPUT": str(tmp_path / "out"),
        "COLUMNS": "200",
    }

    def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "enforcer.cli", *args], env=env, text=True, capture_output=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"enforcer {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    run.env = env  # type: ignore[attr-defined]
    return run


def test_null_route_blocks_the_host_but_not_its_neighbour_and_unblock_restores(lab, enforcer):
    victim, neighbour = (address(h) for h in lab.customer_hosts()[:2])
    inet = lab.internet_host
    assert ping(inet, victim) and ping(inet, neighbour)

    enforcer("block", victim, "--violation", "malware-hosting", "--ttl", "1h", "--reason", "malware C2")
    enforcer("apply", "--yes")
    assert kernel_route(lab.edge, f"{victim}/32", type="blackhole") is not None
    assert not ping(inet, victim, expect=False)
    assert ping(inet, neighbour)

    enforcer("unblock", victim)
    enforcer("apply", "--yes")
    assert ping(inet, victim)
    assert kernel_route(lab.edge, f"{victim}/32", type="blackhole", expect=False) is None


def test_rtbh_announces_blackhole_community_and_upstream_discards_until_expiry(lab, enforcer):
    victim = address(lab.customer_hosts()[0])
    enforcer("block", victim, "--violation", "ddos-victim", "--ttl", "1h")
    enforcer("apply", "--yes")
    assert probes.bgp_has(lab.upstream, f"{victim}/32")
    paths = probes.bgp_route(lab.upstream, f"{victim}/32")
    assert any("blackhole" in p["communities"] or "65535:666" in p["communities"] for p in paths), paths
    assert kernel_route(lab.upstream, f"{victim}/32", type="blackhole") is not None
    assert not ping(lab.internet_host, victim, expect=False)

    # Expiry withdraws it: move the stored expiry into the past, then one reconcile pass.
    _expire_all(enforcer)
    enforcer("reconcile")
    assert not probes.bgp_has(lab.upstream, f"{victim}/32", expect=False)
    assert kernel_route(lab.upstream, f"{victim}/32", type="blackhole", expect=False) is None
    assert ping(lab.internet_host, victim)


def test_prefix_filter_drops_the_hijacked_prefix_and_keeps_the_legitimate_one(lab, enforcer):
    inv = lab.inventory
    cust = next(iter(inv.customers.values()))
    legit = str(cust.prefixes[0])
    lab.hijack(True)
    hijacked = str(probes_hijack_prefix())
    assert probes.bgp_has(lab.edge, hijacked) and probes.bgp_has(lab.upstream, hijacked)

    enforcer("block", hijacked, "--violation", "bgp-hijack", "--customer", cust.id, "--reason", "not theirs")
    enforcer("apply", "--yes")
    assert not probes.bgp_has(lab.edge, hijacked, expect=False)
    assert not probes.bgp_has(lab.upstream, hijacked, expect=False)
    assert probes.bgp_has(lab.edge, legit) and probes.bgp_has(lab.upstream, legit)


def probes_hijack_prefix():
    from enforcer.lab.topology import HIJACK_PREFIX

    return HIJACK_PREFIX


def test_spam_acl_drops_smtp_from_the_offender_but_not_http(lab, enforcer):
    offender = lab.customer_hosts()[0]
    inet = lab.internet_host
    with tcp_listener(inet, 25), tcp_listener(inet, 80):
        assert tcp_connect(offender, address(inet), 25) and tcp_connect(offender, address(inet), 80)
        enforcer("block", address(offender), "--violation", "spam", "--reason", "UBE complaints")
        enforcer("apply", "--yes")
        assert not tcp_connect(offender, address(inet), 25, expect=False)
        assert tcp_connect(offender, address(inet), 80)
        other = lab.customer_hosts()[1]
        assert tcp_connect(other, address(inet), 25)


def test_rate_limit_caps_udp_to_the_playbook_rate_and_unblock_restores(lab, enforcer):
    offender, inet = lab.customer_hosts()[0], lab.internet_host
    rate = 10_000_000  # playbooks/excessive-bandwidth.yaml
    enforcer("block", address(offender), "--violation", "excessive-bandwidth")
    enforcer("apply", "--yes")
    got = udp_throughput(offender, inet, offered_bps=5 * rate)
    assert 0.75 * rate <= got <= 1.25 * rate, f"received {got / 1e6:.1f} Mbit/s, limit {rate / 1e6:.0f}"
    enforcer("unblock", address(offender))
    enforcer("apply", "--yes")
    assert udp_throughput(offender, inet, offered_bps=5 * rate) > 0.9 * 5 * rate


def test_short_ttl_disappears_from_the_device_by_itself_with_an_audit_entry(lab, enforcer):
    victim = address(lab.customer_hosts()[0])
    enforcer("block", victim, "--violation", "phishing", "--ttl", "20s")
    loop = subprocess.Popen(
        [sys.executable, "-m", "enforcer.cli", "reconcile", "--interval", "1"],
        env=enforcer.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert kernel_route(lab.edge, f"{victim}/32", type="blackhole", within=90) is not None
        assert kernel_route(lab.edge, f"{victim}/32", type="blackhole", expect=False, within=90) is None
    finally:
        loop.terminate()
        loop.wait(timeout=10)
    assert ping(lab.internet_host, victim)
    history = json.loads(enforcer("history", "--json").stdout)
    assert any(e["action"] == "expired" and e["target"] == f"{victim}/32" for e in history)


def test_second_apply_changes_nothing_and_drift_is_repaired_without_touching_foreign_config(lab, enforcer):
    victim = address(lab.customer_hosts()[0])
    enforcer("block", victim, "--violation", "malware-hosting")
    enforcer("apply", "--yes")
    assert enforcer("plan", "--detailed-exitcode", check=False).returncode == 0

    # An engineer removes our route by hand and adds one of their own, outside the managed section.
    probes.vtysh(lab.edge, "configure terminal", f"no ip route {victim}/32 Null0 tag 667")
    probes.vtysh(lab.edge, "configure terminal", "ip route 192.0.2.200/32 Null0")
    assert kernel_route(lab.edge, f"{victim}/32", type="blackhole", expect=False) is None
    drift = enforcer("plan", "--detailed-exitcode", "--json", check=False)
    assert drift.returncode == 2
    assert victim in json.dumps(json.loads(drift.stdout))

    enforcer("apply", "--yes")
    assert kernel_route(lab.edge, f"{victim}/32", type="blackhole") is not None
    assert "ip route 192.0.2.200/32 Null0" in probes.vtysh(lab.edge, "show running-config")
    assert enforcer("plan", "--detailed-exitcode", check=False).returncode == 0


def test_a_device_that_is_down_fails_alone_with_a_clear_error(lab, enforcer, tmp_path):
    import shutil

    import yaml

    inv_copy = tmp_path / "inventory"
    shutil.copytree(lab.inventory_path, inv_copy)
    hosts = yaml.safe_load((inv_copy / "hosts.yaml").read_text())
    dead = dict(hosts["edge"])
    dead["port"] = _closed_port()
    hosts["dead-edge"] = dead
    (inv_copy / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    victim = address(lab.customer_hosts()[0])
    enforcer("block", victim, "--violation", "malware-hosting")
    proc = enforcer("--inventory", str(inv_copy), "apply", "--yes", "--json", check=False)
    assert proc.returncode == 1
    results = {r["device"]: r for r in json.loads(proc.stdout)}
    assert results["dead-edge"]["ok"] is False
    assert "cannot reach 127.0.0.1" in results["dead-edge"]["error"], results["dead-edge"]["error"]
    assert results["edge"]["ok"] is True and results["edge-fw"]["ok"] is True
    assert not ping(lab.internet_host, victim, expect=False)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _expire_all(enforcer) -> None:
    from datetime import timedelta

    from enforcer.store import EnforcementRow, Store

    store = Store(enforcer.env["ENFORCER_DB"])
    with store.session() as s:
        for row in s.query(EnforcementRow).all():
            if row.expires_at is not None:
                row.expires_at = row.expires_at - timedelta(days=400)
