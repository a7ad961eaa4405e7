"""Saved plans against the live lab: ``plan -out`` / ``apply FILE`` on a real FRR over SSH.

The saved plan's commands are what reaches the router. A plan made stale by a new decision, or by
an engineer's change on the router, is refused before anything is sent. The effect is checked in
the network (the kernel's blackhole route, pings), not in enforcer's own records.
"""

from __future__ import annotations

import json

import pytest

from enforcer.lab import probes
from enforcer.lab.probes import address, kernel_route, ping

from .test_cli_e2e import enforcer  # noqa: F401  (the CLI-as-a-subprocess fixture)
from .test_device_safety import _commits, _kill_apply_in_the_confirm_window, cli  # noqa: F401  (private store)

pytestmark = pytest.mark.lab


def _plan_out(enforcer, path) -> dict[str, dict]:  # noqa: F811
    proc = enforcer("plan", "--out", str(path), "--json", check=False)
    assert proc.returncode in (0, 2), proc.stdout + proc.stderr
    return {p["device"]: p for p in json.loads(proc.stdout)}


def test_apply_file_puts_on_the_router_what_the_plan_showed(lab, enforcer, tmp_path):  # noqa: F811
    victim = address(lab.customer_hosts()[0])
    enforcer("block", victim, "--violation", "malware-hosting", "--ttl", "1h")
    saved = tmp_path / "plan.json"
    shown = _plan_out(enforcer, saved)
    candidate = shown[lab.device(platform="frr").name]["candidate"]
    assert f"ip route {victim}/32 Null0 tag 667" in candidate

    enforcer("apply", str(saved))
    assert kernel_route(lab.edge, f"{victim}/32", type="blackhole") is not None
    assert not ping(lab.internet_host, victim, expect=False)
    running = probes.vtysh(lab.edge, "show running-config")
    assert all(line.strip() in running for line in candidate.splitlines() if line.startswith("ip route"))
    assert enforcer("plan", "--detailed-exitcode", check=False).returncode == 0


def test_a_decision_after_the_plan_makes_apply_file_refuse_and_send_nothing(lab, enforcer, tmp_path):  # noqa: F811
    first, second = (address(h) for h in lab.customer_hosts()[:2])
    enforcer("block", first, "--violation", "malware-hosting", "--ttl", "1h")
    saved = tmp_path / "plan.json"
    _plan_out(enforcer, saved)
    enforcer("block", second, "--violation", "malware-hosting", "--ttl", "1h")

    proc = enforcer("apply", str(saved), check=False)
    assert proc.returncode == 1
    assert "stale plan" in proc.stderr and "store changed" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert kernel_route(lab.edge, f"{first}/32", type="blackhole", expect=False) is None
    assert ping(lab.internet_host, first)


def test_a_change_on_the_router_after_the_plan_makes_apply_file_refuse(lab, enforcer, tmp_path):  # noqa: F811
    victim = address(lab.customer_hosts()[0])
    enforcer("block", victim, "--violation", "malware-hosting", "--ttl", "1h")
    saved = tmp_path / "plan.json"
    _plan_out(enforcer, saved)
    # An engineer adds an enforcer-looking route by hand: the live section is no longer the planned one.
    probes.vtysh(lab.edge, "configure terminal", "ip route 192.0.2.201/32 Null0 tag 667")

    proc = enforcer("apply", str(saved), check=False)
    assert proc.returncode == 1
    assert "stale plan" in proc.stderr and "changed since" in proc.stderr, proc.stderr
    assert kernel_route(lab.edge, f"{victim}/32", type="blackhole", expect=False) is None
    assert "ip route 192.0.2.201/32 Null0 tag 667" in probes.vtysh(lab.edge, "show running-config")


def test_apply_file_settles_a_commit_left_pending_by_a_killed_apply_as_apply_does(lab, cli, tmp_path):  # noqa: F811
    """A saved plan made while a dead pusher's commit-confirm waits on the router: apply FILE
    confirms it on purpose (the router holds the desired state) instead of leaving it to revert."""
    device = lab.device(platform="frr").name
    target = probes.host_prefix(lab.customer_hosts("cust1")[0])
    cli("block", target, "--violation", "malware-hosting", "--reason", "C2 server, ticket 4411")
    _kill_apply_in_the_confirm_window(lab, cli, device)
    saved = tmp_path / "plan.json"
    [plan] = json.loads(cli("plan", "--device", device, "--out", str(saved), "--json").stdout)
    assert plan["pending"] is True

    # The killed apply still holds the device's lease until it lapses (ENFORCER_LEASE_TTL, 5 s here, after
    # its last renewal): until then apply FILE says "device busy" and sends nothing, as any pusher does.
    def attempt() -> dict:
        return json.loads(cli("apply", str(saved), "--json", check=False).stdout)[0]

    result = probes.eventually(attempt, lambda r: not (r["error"] or "").startswith("device busy"), 90, 1.0)
    assert result["ok"] and "held the desired state: confirmed" in result["settled"], result
    assert not (_commits(lab) / "pending.json").exists()
    assert probes.kernel_route(lab.edge, target, type="blackhole")

