"""Runbook: enforce at an OpenFlow switch — block a malware host, cap a bandwidth hog, unblock.

Each step is what a NOC does (``block`` → ``apply``) and what it checks afterwards (ping, iperf3,
``ovs-ofctl dump-flows``). ``apply`` returns only after the switch's barrier reply, so the checks
right after it need no waiting for the block; a restore may wait for ARP, polled with a deadline.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from enforcer import service
from enforcer.lab import ovs, probes
from enforcer.lab.nodes import Node

from .conftest import (
    CUSTOMER,
    H1,
    H2,
    H2_6,
    H3,
    H3_6,
    SWITCH,
    apply,
    block,
    desired_lines,
    enforcer_flows,
    ping,
    switch_flows,
    switch_meters,
    wait_until,
)

pytestmark = pytest.mark.lab


def test_plan_shows_the_flows_a_malware_hosting_decision_adds(oflab, ctx):
    block(ctx, H2, "malware-hosting")
    [plan] = service.plan(ctx, SWITCH)
    assert plan.error is None
    assert plan.summary() == "+2 ~0 -0"
    assert "+cookie=0xe4f0" in plan.diff and "ip,nw_dst=198.18.0.12 actions=drop" in plan.diff
    assert enforcer_flows(oflab) == []  # planning changes nothing on the switch


def test_malware_hosting_null_route_drops_the_host_while_its_neighbour_passes_and_unblock_restores(oflab, ctx):
    assert wait_until("h1 to reach h2 before the block", lambda: ping(oflab, "h1", H2))
    decision = block(ctx, H2, "malware-hosting")
    apply(ctx)

    assert not ping(oflab, "h1", H2, count=3), "the malware host still answers"
    assert not ping(oflab, "h2", H3), "the malware host can still send"
    assert ping(oflab, "h1", H3), "the neighbour must pass"
    flows, _ = desired_lines(ctx)
    assert enforcer_flows(oflab) == flows and len(flows) == 2

    service.unblock(ctx, str(decision), actor="noc", source="cli", reason="cleaned up")
    apply(ctx)
    assert enforcer_flows(oflab) == []
    assert wait_until("h1 to reach h2 after unblock", lambda: ping(oflab, "h1", H2))


def test_ipv6_host_is_dropped_and_the_ipv6_neighbour_passes(oflab, ctx):
    assert wait_until("h1 to reach h2 over IPv6", lambda: ping(oflab, "h1", H2_6))
    block(ctx, H2_6, "malware-hosting")
    apply(ctx)
    assert not ping(oflab, "h1", H2_6, count=3)
    assert ping(oflab, "h1", H3_6)
    assert ping(oflab, "h1", H2), "an IPv6 block must not touch the host's IPv4 address"
    assert "ipv6,ipv6_dst=2001:db8:18::12" in " ".join(enforcer_flows(oflab))


def udp_received_bps(oflab, client: str, server: str, server_ip: str, offered: str, seconds: int = 3) -> float:
    """iperf3 UDP from ``client`` to ``server`` at ``offered``; the rate the server received."""
    srv = subprocess.Popen(
        ["ip", "netns", "exec", oflab.ns(server), "iperf3", "-s", "-1", "-B", server_ip],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def run_client() -> dict | None:
            proc = subprocess.run(
                ["ip", "netns", "exec", oflab.ns(client), "iperf3", "-c", server_ip, "-u", "-b", offered,
                 "-t", str(seconds), "-l", "1400", "--json"],
                capture_output=True, text=True, timeout=seconds + 20,
            )  # fmt: skip
            result = json.loads(proc.stdout or "{}")
            if proc.returncode != 0 or "sum_received" not in result.get("end", {}):
                print("iperf3 not ready:", result.get("error") or proc.stderr[-300:])
                return None
            return result

        result = wait_until("an iperf3 run (server listening)", run_client, timeout=20)
        return float(result["end"]["sum_received"]["bits_per_second"])
    finally:
        srv.kill()
        srv.wait()


def test_excessive_bandwidth_meter_caps_udp_at_the_playbook_rate(oflab, ctx):
    block(ctx, H3, "excessive-bandwidth")  # playbook: rate-limit 10Mbit, source direction
    apply(ctx)
    flows, meters = desired_lines(ctx)
    assert len(meters) == 1 and " rate=10000 burst_size=1000" in meters[0]
    assert switch_meters(oflab) == meters and enforcer_flows(oflab) == flows
    received = udp_received_bps(oflab, "h3", "h1", "198.18.0.11", offered="50M")
    assert 7.5e6 <= received <= 12.5e6, f"received {received / 1e6:.1f} Mbit/s, want 10 ±25%"
    # the other direction is not metered: h1 → h3 keeps the offered rate
    assert udp_received_bps(oflab, "h1", "h3", H3, offered="30M") > 25e6


def test_non_enforcer_flows_survive_apply(oflab, ctx):
    base = [f for f in switch_flows(oflab) if not f.startswith("cookie=0xe4f0")]
    assert base, "the lab's own NORMAL flow is missing"
    block(ctx, H2, "malware-hosting")
    apply(ctx)
    assert [f for f in switch_flows(oflab) if not f.startswith("cookie=0xe4f0")] == base


def test_spoofing_decision_lets_only_the_customers_own_sources_out_of_its_port(oflab, ctx):
    """BCP 38 at the switch: h1 (customer of-cust1 on port p1) forges 198.18.0.99; its real address passes."""
    forged = "198.18.0.99"
    subprocess.run(["ip", "-n", oflab.ns("h1"), "addr", "add", f"{forged}/32", "dev", "eth0"], check=True)
    try:
        assert wait_until(
            "the forged source to reach h3 before enforcement", lambda: ping(oflab, "h1", H3, source=forged)
        )
        block(ctx, H1, "spoofing", customer=CUSTOMER)
        apply(ctx)
        assert not ping(oflab, "h1", H3, count=3, source=forged), "forged source still leaves the customer's port"
        assert ping(oflab, "h1", H3), "the customer's own address must pass"
        assert wait_until("IPv6 from the customer's own address", lambda: ping(oflab, "h1", H3_6))
        assert ping(oflab, "h2", H3, source=H2), "other ports are not filtered"
        flows, _ = desired_lines(ctx)
        assert enforcer_flows(oflab) == flows and any("in_port=p1" in f for f in flows)
    finally:
        subprocess.run(["ip", "-n", oflab.ns("h1"), "addr", "del", f"{forged}/32", "dev", "eth0"], check=False)


def host(oflab, name: str) -> Node:
    return next(n for n in ovs.nodes(oflab.state_dir, oflab.prefix) if n.name == f"{oflab.prefix}-sw-{name}")


def test_spam_block_drops_smtp_from_the_host_but_not_its_http_nor_other_hosts_mail(oflab, ctx):
    """L4 at the switch: the spam playbook's first rung closes TCP 25/465/587 from the host only."""
    h1, h2, h3 = host(oflab, "h1"), host(oflab, "h2"), host(oflab, "h3")
    with probes.tcp_listener(h3, 25), probes.tcp_listener(h3, 80):
        assert probes.tcp_connect(h1, H3, 25), "SMTP must pass before the block"
        block(ctx, H1, "spam")
        apply(ctx)
        assert not probes.tcp_connect_once(h1, H3, 25), "SMTP from the spamming host still passes"
        assert probes.tcp_connect_once(h1, H3, 80), "HTTP from the same host must pass"
        assert probes.tcp_connect_once(h2, H3, 25), "another host's mail must pass"
    assert "tcp,nw_src=198.18.0.11,tp_dst=25 actions=drop" in " ".join(enforcer_flows(oflab))


def test_plan_shows_the_meter_a_rate_limit_adds_and_a_meter_changed_by_hand(oflab, ctx):
    block(ctx, H3, "excessive-bandwidth")
    _, [meter] = desired_lines(ctx)
    meter_id = meter.split()[0].removeprefix("meter=")
    [plan] = service.plan(ctx, SWITCH)
    assert plan.summary() == "+2 ~0 -0", plan.diff
    assert f"+{meter}\n" in plan.diff and f"ip,nw_src=198.18.0.13 actions=meter:{meter_id},NORMAL" in plan.diff
    apply(ctx)

    band = "kbps,burst,band=type=drop,rate=20000,burst_size=1000"
    ovs.ofctl(oflab.state_dir, "mod-meter", f"meter={meter_id},{band}")  # someone loosens it by hand
    [plan] = service.plan(ctx, SWITCH)
    assert plan.summary() == "+0 ~1 -0", plan.diff
    assert f"-meter={meter_id} kbps burst bands=type=drop rate=20000 burst_size=1000\n" in plan.diff
    assert f"+{meter}\n" in plan.diff
    apply(ctx)
    assert switch_meters(oflab) == [meter]
