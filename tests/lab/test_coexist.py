"""Issue 9, live: enforcer on a shared edge composes with the operator's own configuration.

The lab's edge carries the operator's filters before enforcer touches it (topology.OperatorConfig):
an inbound prefix-list (the customer's registered prefixes) and route-map (local-preference 200)
on the customer's session, a ``redistribute static route-map`` of its own, and an nftables table
of its own on the customer port. The customer router always announces a leak (an RFC 1918
prefix) that the operator's list rejects. Each test pushes through the CLI a NOC engineer uses
and watches the network while it happens: background watchers record every look at the BGP
tables during the push, so "never withdrawn, not even for a moment" is checked over all of them.
The prefix-filter tests run twice: with FRR and with GoBGP (Debian gobgpd) as the customer router.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from ipaddress import ip_interface

import pytest
import yaml

from enforcer.lab import probes
from enforcer.lab.packets import send_udp, start_udp, udp_counter
from enforcer.lab.proc import run, wait_for
from enforcer.lab.testing import Cli, Lab, cli
from enforcer.lab.topology import HIJACK_PREFIX, LEAK_PREFIX, TOPOLOGY
from enforcer.lab.watch import TableWatch

from .conftest import fresh_store

pytestmark = pytest.mark.lab

CUSTOMER = TOPOLOGY.customers[0]
OPERATOR = TOPOLOGY.router("edge").operator
assert OPERATOR is not None
LEGIT, HIJACKED, LEAK = str(CUSTOMER.prefixes[0]), str(HIJACK_PREFIX), str(LEAK_PREFIX)
NEIGHBOR = str(CUSTOMER.edge_neighbor)
UDP_PORT = 5555


@pytest.fixture(params=["frr", "gobgp"])
def customer_lab(request: pytest.FixtureRequest) -> Lab:
    """The session lab with FRR as the customer router, or the one with GoBGP."""
    return request.getfixturevalue("lab" if request.param == "frr" else "gobgp_lab")


@pytest.fixture
def enforcer_on(customer_lab: Lab, tmp_path) -> Iterator[Cli]:
    with fresh_store(customer_lab):
        yield cli(customer_lab, tmp_path / "out")


@pytest.fixture
def enforcer(lab: Lab, tmp_path) -> Iterator[Cli]:
    with fresh_store(lab):
        yield cli(lab, tmp_path / "out")


#: The inventory device each action lands on: the edge's FRR (BGP) or its nftables firewall.
FRR, FIREWALL = "edge", "edge-fw"


def _block(enforcer: Cli, device: str, target: str, violation: str, *extra: str) -> None:
    enforcer("block", target, "--violation", violation, "--reason", "issue 9 live test", *extra)
    enforcer("apply", "--yes", "--device", device)


def _unblock(enforcer: Cli, device: str, target: str) -> None:
    enforcer("unblock", target)
    enforcer("apply", "--yes", "--device", device)


def _prefix_version(node, prefix: str) -> int:
    """The router's table version for ``prefix``: it moves on every withdraw or re-announcement."""
    data = json.loads(probes.vtysh(node, f"show bgp ipv4 unicast {prefix} json") or "{}")
    return int(data.get("version", -1))


def _hijack_announced(lab: Lab) -> None:
    lab.hijack(True)
    assert probes.bgp_has(lab.edge, HIJACKED) and probes.bgp_has(lab.upstream, HIJACKED)
    assert probes.bgp_has(lab.upstream, LEGIT)
    assert LEAK not in probes.bgp_table(lab.edge), "the operator's prefix-list must reject the leak"


# ------------------------------------------------------------------ bgp-hijack on an occupied prefix-list slot


def test_hijack_block_removes_the_prefix_without_withdrawing_the_customer_or_admitting_the_leak(
    customer_lab: Lab, enforcer_on: Cli
):
    lab = customer_lab
    _hijack_announced(lab)
    legit_version = _prefix_version(lab.upstream, LEGIT)

    with TableWatch(lab.upstream) as upstream, TableWatch(lab.edge) as edge:
        _block(enforcer_on, FRR, HIJACKED, "bgp-hijack", "--customer", CUSTOMER.id)
        assert not probes.bgp_has(lab.upstream, HIJACKED, expect=False)
        upstream.observe_after(time.monotonic())
        edge.observe_after(time.monotonic())

    assert not upstream.without(LEGIT), f"the customer's {LEGIT} was withdrawn during the push"
    assert _prefix_version(lab.upstream, LEGIT) == legit_version, f"{LEGIT} was withdrawn and announced again"
    assert not edge.with_(LEAK), f"the leak {LEAK} was accepted during the push: the operator's list was replaced"
    assert LEAK not in probes.bgp_table(lab.edge)
    assert probes.bgp_route(lab.edge, LEGIT)[0]["locPrf"] == OPERATOR.local_pref, "the operator's route-map is gone"


def test_hijack_unblock_restores_the_edge_byte_for_byte_and_never_lapses(customer_lab: Lab, enforcer_on: Cli):
    lab = customer_lab
    _hijack_announced(lab)
    before = probes.running_config(lab.edge)
    _block(enforcer_on, FRR, HIJACKED, "bgp-hijack", "--customer", CUSTOMER.id)
    assert not probes.bgp_has(lab.upstream, HIJACKED, expect=False)
    legit_version = _prefix_version(lab.upstream, LEGIT)

    with TableWatch(lab.upstream) as upstream, TableWatch(lab.edge) as edge:
        _unblock(enforcer_on, FRR, HIJACKED)
        assert probes.bgp_has(lab.upstream, HIJACKED), "the operator's list admits the prefix again"
        upstream.observe_after(time.monotonic())
        edge.observe_after(time.monotonic())

    assert not upstream.without(LEGIT), f"the customer's {LEGIT} was withdrawn during the unblock"
    assert _prefix_version(lab.upstream, LEGIT) == legit_version
    assert not edge.with_(LEAK), f"the leak {LEAK} was accepted during the unblock"
    assert probes.running_config(lab.edge) == before


# ------------------------------------------------------------------ anti-spoof that keeps the customer up


def _edge_address_towards_customer(lab: Lab) -> str:
    """The edge's own address on the customer link: router-bound traffic is addressed to it."""
    return next(str(a.ip) for a in map(ip_interface, lab.edge.addresses) if CUSTOMER.edge_neighbor in a.network)


def test_anti_spoof_drops_spoofed_traffic_to_the_router_itself_and_keeps_the_customer_session(lab: Lab, enforcer: Cli):
    spoofed, own = "198.51.100.77", str(lab.customer_hosts()[0].addresses[0]).split("/")[0]
    edge_ip, cust = _edge_address_towards_customer(lab), lab.customer_router
    with udp_counter(lab.edge, edge_ip, UDP_PORT) as received:
        send_udp(cust, spoofed, edge_ip, UDP_PORT, 5)
        wait_for("spoofed datagrams reach the unfiltered edge", lambda: received.from_(spoofed) == 5, 15)

        session = probes.bgp_session(lab.edge, NEIGHBOR)
        _block(enforcer, FIREWALL, spoofed, "spoofing", "--customer", CUSTOMER.id)

        send_udp(cust, spoofed, edge_ip, UDP_PORT, 20)
        send_udp(cust, own, edge_ip, UDP_PORT, 5)  # the customer's own source passes, and marks the end
        wait_for("the customer's own datagrams", lambda: received.from_(own) == 5, 15)
        assert received.from_(spoofed) == 5, "anti-spoof let spoofed traffic reach the router itself"

    # The session outlives its hold time (3 s) under the filter: keepalives keep arriving, no reset.
    keepalives = session["messageStats"]["keepalivesRecv"]
    wait_for("keepalives from the customer under anti-spoof",
             lambda: probes.bgp_session(lab.edge, NEIGHBOR)["messageStats"]["keepalivesRecv"] >= keepalives + 5,
             30)  # fmt: skip
    now = probes.bgp_session(lab.edge, NEIGHBOR)
    assert now["bgpState"] == "Established"
    assert now["connectionsEstablished"] == session["connectionsEstablished"], "the customer's session flapped"


def _with_anti_spoof(lab: Lab, folder, method: str) -> Lab:
    """The lab with its firewall set to anti-spoof ``method`` (a copy of its inventory)."""
    shutil.copytree(lab.inventory_path, folder, dirs_exist_ok=True)
    hosts = yaml.safe_load((folder / "hosts.yaml").read_text())
    hosts[FIREWALL]["anti_spoof"] = method
    (folder / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return dataclasses.replace(lab, inventory_path=folder)


def test_urpf_strict_then_loose_drops_the_spoofed_sources_each_should_and_keeps_the_session(
    lab: Lab, enforcer: Cli, tmp_path
):
    """nftables `fib saddr . iif oif missing drop` (strict): a source routed out of another port
    (the internet's 198.51.100.0/24, via the upstream) is dropped, and one with no route at all
    (100.64.0.7: the edge has no default route); `fib saddr oif missing drop` (loose) lets the
    first pass and drops the second. The customer's own source and its BGP session pass both."""
    routed_elsewhere, unrouted = "198.51.100.77", "100.64.0.7"
    own = str(lab.customer_hosts()[0].addresses[0]).split("/")[0]
    edge_ip, cust = _edge_address_towards_customer(lab), lab.customer_router
    session = probes.bgp_session(lab.edge, NEIGHBOR)
    enforcer("block", own, "--violation", "spoofing", "--reason", "issue 9 live test", "--customer", CUSTOMER.id)
    with udp_counter(lab.edge, edge_ip, UDP_PORT) as received:
        for method, dropped, passed in (("urpf-strict", [routed_elsewhere, unrouted], []),
                                        ("urpf-loose", [unrouted], [routed_elsewhere])):
            # the same block, applied with the firewall set to each method in turn
            cli(_with_anti_spoof(lab, tmp_path / method, method), tmp_path / "out")(
                "apply", "--yes", "--device", FIREWALL)
            listing = run(["nft", "list", "table", "inet", "enforcer"], netns=probes.netns_of(lab.edge)).stdout
            assert ("fib saddr . iif oif missing" in listing) is (method == "urpf-strict"), listing
            seen = {a: received.from_(a) for a in (*dropped, *passed, own)}
            for source in dropped + passed:
                send_udp(cust, source, edge_ip, UDP_PORT, 5)
            send_udp(cust, own, edge_ip, UDP_PORT, 5)  # the customer's own source passes, and marks the end
            wait_for(f"{method}: the customer's own datagrams",
                     lambda seen=seen: received.from_(own) == seen[own] + 5, 15)
            for source in passed:
                wait_for(f"{method}: {source} passes", lambda s=source, seen=seen: received.from_(s) == seen[s] + 5, 15)
            for source in dropped:
                assert received.from_(source) == seen[source], f"{method} let {source} reach the router"
    enforcer("unblock", own)
    enforcer("apply", "--yes", "--device", FIREWALL)
    assert "fib" not in run(["nft", "list", "table", "inet", "enforcer"], netns=probes.netns_of(lab.edge)).stdout
    now = probes.bgp_session(lab.edge, NEIGHBOR)
    assert now["bgpState"] == "Established"
    assert now["connectionsEstablished"] == session["connectionsEstablished"], "the customer's session flapped"


# ------------------------------------------------------------------ RTBH towards the upstream only


def test_rtbh_is_not_announced_to_the_customer_who_still_reaches_its_own_host(lab: Lab, enforcer: Cli):
    victim = probes.address(lab.customer_hosts()[0])
    assert probes.ping(lab.customer_router, victim)

    _block(enforcer, FRR, victim, "ddos-victim")
    assert probes.bgp_has(lab.upstream, f"{victim}/32"), "the blackhole route must reach the upstream"

    assert f"{victim}/32" not in probes.advertised(lab.edge, NEIGHBOR), "the edge sends the /32 to the customer"
    assert f"{victim}/32" not in probes.bgp_table(lab.customer_router)
    assert probes.ping(lab.customer_router, victim)


def test_rtbh_keeps_the_operators_static_redistribution_and_unblock_restores_the_edge(lab: Lab, enforcer: Cli):
    victim = probes.address(lab.customer_hosts()[0])
    operator_static = str(OPERATOR.statics[0])
    assert probes.bgp_has(lab.upstream, operator_static)
    before = probes.running_config(lab.edge)

    with TableWatch(lab.upstream) as upstream:
        _block(enforcer, FRR, victim, "ddos-victim")
        assert probes.bgp_has(lab.upstream, f"{victim}/32")
        upstream.observe_after(time.monotonic())
        _unblock(enforcer, FRR, victim)
        assert not probes.bgp_has(lab.upstream, f"{victim}/32", expect=False)
        upstream.observe_after(time.monotonic())

    assert not upstream.without(operator_static), "the operator's redistribute static route-map was replaced"
    assert probes.running_config(lab.edge) == before


# ------------------------------------------------------------------ ACL changes never open a gap


def test_a_changed_acl_never_lets_a_blocked_packet_through(lab: Lab, enforcer: Cli):
    blocked, other = lab.customer_hosts()[:2]
    blocked_ip, other_ip = probes.address(blocked), probes.address(other)
    inet = lab.internet_host
    inet_ip, marker = probes.address(inet), str(lab.customer_router.addresses[0]).split("/")[0]
    with udp_counter(inet, inet_ip, UDP_PORT) as received:
        send_udp(blocked, blocked_ip, inet_ip, UDP_PORT, 3)
        wait_for("the unblocked path carries datagrams", lambda: received.from_(blocked_ip) == 3, 15)
        _block(enforcer, FIREWALL, blocked_ip, "scanning")
        _block(enforcer, FIREWALL, "203.0.113.50", "scanning")
        through = received.from_(blocked_ip)

        stream = start_udp(blocked, blocked_ip, inet_ip, UDP_PORT, count=200_000, gap=0.001)
        try:
            sent_before = probes.tx_packets(blocked)
            wait_for("the stream is flowing", lambda: probes.tx_packets(blocked) > sent_before + 100, 15)
            _block(enforcer, FIREWALL, other_ip, "scanning")  # another block added …
            _unblock(enforcer, FIREWALL, "203.0.113.50")  # … and one removed, while the stream runs
            assert stream.running(), "the stream ended before the changes did: it proves nothing"
            sent_during = probes.tx_packets(blocked) - sent_before
        finally:
            stream.proc.terminate()
            stream.proc.wait(timeout=10)
        send_udp(lab.customer_router, marker, inet_ip, UDP_PORT, 3)  # behind the stream on the same path
        wait_for("the marker datagrams", lambda: received.from_(marker) == 3, 15)

    assert sent_during > 100
    assert received.from_(blocked_ip) == through, f"{received.from_(blocked_ip) - through} blocked packets got through"


def test_the_operators_nftables_table_stays_as_the_operator_wrote_it(lab: Lab, enforcer: Cli):
    edge_ns = probes.netns_of(lab.edge)
    table = ["nft", "list", "table", *OPERATOR.nft_table.split()]
    before = run(table, netns=edge_ns).stdout
    host = lab.customer_hosts()[0]
    _block(enforcer, FIREWALL, probes.address(host), "scanning")
    _block(enforcer, FIREWALL, "198.51.100.77", "spoofing", "--customer", CUSTOMER.id)
    assert run(table, netns=edge_ns).stdout == before
    _unblock(enforcer, FIREWALL, probes.address(host))
    _unblock(enforcer, FIREWALL, "198.51.100.77")
    assert run(table, netns=edge_ns).stdout == before


def test_the_gobgp_lab_customer_router_speaks_bgp_through_gobgpd(gobgp_lab: Lab):
    cust = gobgp_lab.customer_router
    out = run(["gobgp", "neighbor", "-j"], netns=probes.netns_of(cust)).stdout
    assert [n["state"]["session_state"] for n in json.loads(out)] == [6]  # 6: ESTABLISHED
    assert "router bgp" not in probes.running_config(cust), "FRR must not speak BGP beside GoBGP"
    assert probes.bgp_session(gobgp_lab.edge, NEIGHBOR)["bgpState"] == "Established"
