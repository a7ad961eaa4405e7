"""Issue 3, commit safety: a commit that cuts enforcer off its router is undone by the router itself.

enforcer runs where a NOC runs it: on the management station (the lab's ``noc`` namespace), reaching
the edge in-band — its SSH replies leave through the edge's own routing table. The operator blocks
an address without noticing it is the NOC station's, and the guardrails let it through because the
NOC link was left out of the protected prefixes (the mistake this test stages). ``enforcer apply
--revert-in N`` commits the null route, which swallows the edge's replies: enforcer loses the router
mid-push, cannot confirm nor roll back, reports it and exits 1. Nobody does anything; N seconds later
the router restores its checkpoint by itself and management comes back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from ipaddress import collapse_addresses, ip_network
from pathlib import Path

import pytest
import yaml

from enforcer.lab.probes import address, eventually, kernel_route, ssh_answers, vtysh
from enforcer.lab.testing import Lab
from enforcer.lab.topology import INFRASTRUCTURE

pytestmark = pytest.mark.lab

#: The router's commit-confirmed timer: long enough that a loaded machine's apply (plan, commit, 4 s for the
#: lost reply) returns before the router reverts, so the test sees the route the commit put in.
REVERT_IN = 30
#: The in-band session's timeouts (inventory ``optional_args``): enforcer gives up fast on a silent router.
TIMEOUTS = {"conn_timeout": 3, "timeout": 3, "commit_timeout": 4}


@pytest.fixture
def noc_enforcer(lab: Lab, tmp_path: Path):
    """``enforcer …`` run inside the NOC station's namespace, managing the edge in-band.

    Its inventory is the lab's, except that the edge's FRR device points at the in-band sshd and
    the protected prefixes are the lab's infrastructure *minus the NOC link*.
    """
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    for f in lab.inventory_path.glob("*.yaml"):
        (inventory / f.name).write_text(f.read_text())
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    frr = lab.device(platform="frr").name
    host, port = lab.edge.mgmt_inband.rsplit(":", 1)
    hosts[frr].update(hostname=host, port=int(port))
    hosts[frr]["optional_args"].update(TIMEOUTS)
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    noc_link = ip_network(lab.noc.addresses[0], strict=False)
    settings = yaml.safe_load((inventory / "settings.yaml").read_text())
    settings["guardrails"]["protected"] = [str(n) for n in collapse_addresses(INFRASTRUCTURE.address_exclude(noc_link))]
    (inventory / "settings.yaml").write_text(yaml.safe_dump(settings))

    argv = ["ip", "netns", "exec", lab.noc.netns, sys.executable, "-m", "enforcer.cli",
            "--inventory", str(inventory), "--db", f"sqlite:///{tmp_path / 'enforcer.db'}"]  # fmt: skip
    env = {**os.environ, "ENFORCER_OUTPUT": str(tmp_path / "out"), "COLUMNS": "200"}

    def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*argv, *args], env=env, text=True, capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"enforcer {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    run.device = frr  # type: ignore[attr-defined]
    return run


def test_a_commit_that_cuts_management_is_reverted_by_the_router_itself(lab: Lab, noc_enforcer):
    edge, station = lab.edge, address(lab.noc)
    device = noc_enforcer.device
    journal = Path(edge.frr_dir) / "log" / "commits.log"
    journal_before = _lines(journal)

    # Management from the NOC works, through the network: the plan reads the edge in-band.
    assert ssh_answers(lab.noc, lab.edge.mgmt_inband)
    noc_enforcer("plan", "--device", device)

    # The operator blocks the NOC station's own address; nothing in the guardrails objects.
    noc_enforcer("block", station, "--violation", "malware-hosting", "--reason", "address pasted from the wrong ticket")
    proc = noc_enforcer("apply", "--yes", "--revert-in", str(REVERT_IN), "--device", device, "--json", check=False)
    # Events, not a stopwatch: when apply returned, the router had not yet restored its checkpoint.
    restored = f"commit not confirmed within {REVERT_IN}s: checkpoint restored"
    assert not any(restored in line for line in _lines(journal)[len(journal_before):])

    # enforcer lost the router mid-push: it says so, names the device, and exits 1 — without hanging.
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [result] = json.loads(proc.stdout)
    assert result["device"] == device and result["ok"] is False and result["rolled_back"] is False
    assert "management lost" in result["error"], result["error"]
    assert f"reverts by itself within {REVERT_IN}s" in result["error"]

    # The commit landed: the edge discards the station's traffic and in-band SSH is dead, while the
    # router itself is fine (its console, the loopback management, shows the route).
    assert kernel_route(edge, f"{station}/32", type="blackhole", within=0) is not None
    assert not ssh_answers(lab.noc, lab.edge.mgmt_inband)
    assert f"ip route {station}/32 Null0" in vtysh(edge, "show running-config")

    # Nobody does anything. The router's own timer restores its checkpoint…
    assert kernel_route(edge, f"{station}/32", expect=False, within=REVERT_IN + 15) is None
    new = eventually(lambda: _lines(journal)[len(journal_before) :], lambda ls: any(restored in x for x in ls), 10)
    assert any(f"commit confirmed {REVERT_IN}s" in line for line in new), new
    assert any(restored in line for line in new), new
    assert not any("rollback" in line or line.endswith("commit confirmed") for line in new), new

    # …and the NOC manages the edge again: the block is still wanted, so the plan shows it pending.
    replan = eventually(
        lambda: noc_enforcer("plan", "--device", device, "--json", check=False), lambda p: p.returncode == 0, 20, 0.5
    )
    assert replan.returncode == 0, replan.stdout + replan.stderr
    [plan] = json.loads(replan.stdout)
    assert plan["error"] is None and plan["added"] == 1 and f"{station}/32" in plan["diff"]

    # The failure is in the audit log, with the reason.
    history = json.loads(noc_enforcer("history", "--json").stdout)
    failed = [e for e in history if e["action"] == "apply-failed" and e["target"] == device]
    assert failed and "management lost" in failed[0]["detail"]["error"]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
