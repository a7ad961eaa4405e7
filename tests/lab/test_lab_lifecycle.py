"""`enforcer lab up | status | down`: the lab comes up fast, describes itself, and leaves nothing behind."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enforcer.inventory import Platform, Transport, load_inventory
from enforcer.lab import lifecycle, probes
from enforcer.lab.cli import lab_app
from enforcer.lab.nodes import Node, NodeRole
from enforcer.lab.proc import pid_alive

pytestmark = pytest.mark.lab


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(lab_app, list(args))
    return result.exit_code, result.stdout


def _links(netns: str | None = None) -> set[str]:
    argv = ["ip", "-o", "link"] if netns is None else ["ip", "-n", netns, "-o", "link"]
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()}


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _listener_pid(netns: str, endpoint: str) -> int | None:
    host, port = endpoint.rsplit(":", 1)
    argv = ["ip", "netns", "exec", netns, "ss", "-Htlnp", f"src {host} and sport = :{port}"]
    m = re.search(r"pid=(\d+)", subprocess.run(argv, capture_output=True, text=True).stdout)
    return int(m.group(1)) if m else None


def _command(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def test_lab_up_status_down_leaves_no_namespace_process_or_directory(tmp_path: Path):
    name = "u" + secrets.token_hex(3)
    inventory = tmp_path / "inventory"
    root_links_before = _links()
    code, _ = _cli("up", "--name", name, "--inventory-out", str(inventory))
    assert code == 0
    try:
        code, out = _cli("status", "--name", name, "--json")
        assert code == 0
        nodes = [Node.model_validate(n) for n in json.loads(out)]
        roles = {n.role for n in nodes}
        assert {NodeRole.EDGE, NodeRole.UPSTREAM, NodeRole.CUSTOMER_ROUTER, NodeRole.HOST} <= roles
        assert all(n.netns and n.netns.startswith(f"{name}-") for n in nodes)
        assert {n.netns for n in nodes} <= _netns()
        hosts = [n for n in nodes if n.role == NodeRole.HOST and n.customer == "cust1"]
        assert len(hosts) >= 2, "a blocked host needs a neighbour that still answers"
        # Every veth lives inside the lab's namespaces; the root namespace gains none of them.
        lab_links = set().union(*(_links(n.netns) for n in nodes)) - {"lo", "eth0"}
        assert lab_links and not lab_links & root_links_before
        assert not lab_links & _links()
        pids = [p for n in nodes for p in n.pids]
        assert pids and all(pid_alive(p) for p in pids)

        # The OpenFlow part: Open vSwitch running in its own namespace, hosts behind its ports.
        [switch] = [n for n in nodes if n.role == NodeRole.SWITCH]
        assert switch.netns == f"{name}-sw" and len(switch.pids) == 2
        assert {_command(p) for p in switch.pids} == {"ovsdb-server", "ovs-vswitchd"}
        switch_hosts = [n for n in nodes if n.role == NodeRole.HOST and n.attached_to == switch.name]
        assert len(switch_hosts) >= 2 and all(n.netns in _netns() for n in switch_hosts)

        # The inventory matches: the edge's FRR over SSH on loopback, its firewall in its namespace.
        inv = load_inventory(inventory)
        frr = next(d for d in inv.devices.values() if d.platform is Platform.FRR)
        fw = next(d for d in inv.devices.values() if d.platform is Platform.NFTABLES)
        edge = next(n for n in nodes if n.role == NodeRole.EDGE)
        assert frr.effective_transport is Transport.FRR and f"{frr.hostname}:{frr.port}" == edge.mgmt
        assert fw.effective_transport is Transport.LINUX and fw.netns == edge.netns
        of = next(d for d in inv.devices.values() if d.platform is Platform.OPENFLOW)
        assert of.netns == switch.netns and of.optional_args["controller"].startswith("unix:")
        assert inv.customers["cust1"].attachments and inv.guardrails.protected

        # In-band management: the NOC station reaches an sshd inside the edge's namespace, whose
        # replies follow the edge's routing table; that sshd is one of the edge's processes.
        noc = next(n for n in nodes if n.role == NodeRole.MANAGEMENT)
        assert noc.attached_to == edge.name and edge.mgmt_inband
        assert probes.ssh_answers(noc, edge.mgmt_inband)
        assert _listener_pid(edge.netns, edge.mgmt_inband) in edge.pids

        # Traffic flows from the internet host to the customer's hosts through all three routers.
        internet = next(n for n in nodes if n.role == NodeRole.HOST and n.customer is None)
        assert probes.ping(internet, probes.address(hosts[0]))

        # A second `up` finds the lab running and changes nothing.
        code, _ = _cli("up", "--name", name, "--inventory-out", str(inventory))
        assert code == 0
        assert [p for n in lifecycle.status(name) for p in n.pids] == pids
    finally:
        code, _ = _cli("down", "--name", name)
    assert code == 0
    assert not {ns for ns in _netns() if ns.startswith(f"{name}-")}
    assert not [p for p in pids if pid_alive(p)]
    assert not [p for p in switch.pids if pid_alive(p)], "Open vSwitch outlived lab down"
    assert not {switch.netns, *(n.netns for n in switch_hosts)} & _netns()
    assert not lab_links & _links()
    assert not lifecycle.default_state_dir(name).exists()
    code, out = _cli("status", "--name", name, "--json")
    assert json.loads(out) == []


def test_down_of_a_lab_that_is_not_up_is_harmless():
    name = "u" + secrets.token_hex(3)
    code, _ = _cli("down", "--name", name)
    assert code == 0
    assert not {ns for ns in _netns() if ns.startswith(f"{name}-")}
    assert not lifecycle.default_state_dir(name).exists()


def test_lab_name_that_could_escape_its_prefix_is_refused():
    code, _ = _cli("up", "--name", "../etc")
    assert code == 2


def test_an_unknown_customer_bgp_speaker_is_refused_with_the_option_named():
    result = CliRunner().invoke(lab_app, ["up", "--name", "u" + secrets.token_hex(3), "--customer-bgp", "bird"])
    assert result.exit_code == 2
    assert "--customer-bgp: 'bird' is not one of frr, gobgp" in result.output
