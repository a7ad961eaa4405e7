"""The FRR driver against the lab's edge router: what it reads is what FRR has, what it pushes bites."""

from __future__ import annotations

from pathlib import Path

import pytest

from enforcer.drivers.base import AuthenticationFailed, CommitRefused, DriverError
from enforcer.lab import probes
from enforcer.lab.mgmt import ssh_agent
from enforcer.lab.proc import pid_alive
from enforcer.lab.testing import Lab, candidate_for, enforcement, push
from enforcer.lab.topology import HIJACK_PREFIX
from enforcer.model import ActionKind, Violation, now
from enforcer.push import push_plan

pytestmark = pytest.mark.lab


@pytest.fixture
def edge_frr(lab: Lab):
    with lab.driver(platform="frr") as driver:
        yield driver


def test_managed_section_shows_a_manual_change_on_the_router_but_not_unmanaged_lines(lab: Lab, edge_frr):
    victim = probes.host_prefix(lab.customer_hosts("cust1")[0])
    probes.vtysh(lab.edge, "configure terminal", f"ip route {victim} Null0 tag 667", "ip route 192.0.2.200/32 Null0")
    section = edge_frr.get_managed_section()
    assert f"ip route {victim} Null0 tag 667" in section.splitlines()
    assert "192.0.2.200" not in section
    assert "192.0.2.200/32 Null0" in edge_frr.get_config()


def test_null_route_drops_the_blocked_host_while_its_neighbour_answers_and_rollback_restores(lab: Lab, edge_frr):
    blocked, neighbour = lab.customer_hosts("cust1")[:2]
    internet = lab.internet_host
    assert probes.ping(internet, probes.address(blocked))

    desired = push(edge_frr, [enforcement(ActionKind.NULL_ROUTE, probes.host_prefix(blocked))], lab.inventory)

    assert edge_frr.get_managed_section() == desired
    assert probes.kernel_route(lab.edge, probes.host_prefix(blocked), type="blackhole")
    assert not probes.ping(internet, probes.address(blocked), expect=False)
    assert probes.ping(internet, probes.address(neighbour))

    edge_frr.rollback()
    assert probes.kernel_route(lab.edge, probes.host_prefix(blocked), expect=False) is None
    assert probes.ping(internet, probes.address(blocked))
    assert edge_frr.get_managed_section() == ""


def test_compare_shows_the_change_against_the_live_router_and_nothing_once_applied(lab: Lab, edge_frr):
    target = probes.host_prefix(lab.customer_hosts("cust1")[0])
    enf = [enforcement(ActionKind.NULL_ROUTE, target)]
    _, candidate = candidate_for(edge_frr, enf, lab.inventory)
    edge_frr.load_merge_candidate(candidate)
    assert edge_frr.compare_config() == f"+ip route {target} Null0 tag 667\n"
    edge_frr.commit_config()

    # The same candidate again changes nothing on the router, and compare says so.
    edge_frr.load_merge_candidate(candidate)
    assert edge_frr.compare_config() == ""


def test_candidate_with_a_bad_line_is_refused_before_the_router_changes(lab: Lab, edge_frr):
    # The candidate travels once, with the commit: the router checks it before applying a line.
    before = edge_frr.get_config()
    edge_frr.load_merge_candidate("ip route 203.0.113.10/32 Null0 tag 667\nip route bogus\n")
    with pytest.raises(CommitRefused, match="syntax check, nothing applied") as err:
        edge_frr.commit_config()
    assert err.value.device == edge_frr.device.name
    assert edge_frr.get_config() == before
    assert probes.kernel_route(lab.edge, "203.0.113.10/32", expect=False, within=1) is None


def test_a_warm_push_is_one_exec_and_is_refused_when_the_noc_changed_the_router_since(lab: Lab, edge_frr):
    first, second, third = "203.0.113.21/32", "203.0.113.22/32", "203.0.113.23/32"
    execs: list[str] = []
    real_exec = edge_frr._exec
    edge_frr._exec = lambda command, *a, **kw: execs.append(command.split()[0]) or real_exec(command, *a, **kw)
    push_plan(edge_frr, plan_for(edge_frr, [first], lab.inventory))  # reads the router: a cold push
    edge_frr.reuse_reads(True)

    execs.clear()
    result = push_plan(edge_frr, plan_for(edge_frr, [first, second], lab.inventory))
    assert result.ok and result.changed, result.error
    # Planned on the last read-back, verified by the router, confirmed on the commit's own channel.
    assert execs == ["load-commit"]
    assert probes.kernel_route(lab.edge, second, type="blackhole")
    assert not edge_frr.has_pending_commit()

    probes.vtysh(lab.edge, "configure terminal", "ip route 192.0.2.78/32 Null0")  # the NOC, meanwhile
    result = push_plan(edge_frr, plan_for(edge_frr, [first, second, third], lab.inventory))
    assert not result.ok and "running config changed" in result.error and not result.rolled_back
    assert probes.kernel_route(lab.edge, third, expect=False, within=1) is None
    edge_frr.reuse_reads(False)  # what serve's retry does: a fresh read, then the push goes through
    assert push_plan(edge_frr, plan_for(edge_frr, [first, second, third], lab.inventory)).ok
    running = probes.vtysh(lab.edge, "show running-config")
    assert "ip route 192.0.2.78/32 Null0\n" in running and f"ip route {third} Null0 tag 667" in running


def test_a_cold_push_is_two_execs_and_a_noc_edit_between_plan_and_commit_is_refused(lab: Lab, edge_frr):
    """What ``enforcer apply`` does: ask for a pending commit, plan, push. The question brings the
    plan's read; the commit's undo is computed on that read and the router verifies it is still
    what it runs (``if-running``) instead of the driver reading it a second time."""
    first, second = "203.0.113.31/32", "203.0.113.32/32"
    execs: list[str] = []
    real_exec = edge_frr._exec
    edge_frr._exec = lambda command, *a, **kw: execs.append(command) or real_exec(command, *a, **kw)

    plan = plan_for(edge_frr, [first], lab.inventory, ask_pending=True)
    result = push_plan(edge_frr, plan)
    assert result.ok and result.changed, result.error
    assert [c.split()[0] for c in execs] == ["commit-pending", "load-commit"], execs
    assert " if-running " in execs[1]
    assert probes.kernel_route(lab.edge, first, type="blackhole")

    execs.clear()
    plan = plan_for(edge_frr, [first, second], lab.inventory, ask_pending=True)
    probes.vtysh(lab.edge, "configure terminal", "ip route 192.0.2.81/32 Null0")  # the NOC, after the plan
    result = push_plan(edge_frr, plan)
    assert not result.ok and "running config changed" in result.error and not result.rolled_back
    assert probes.kernel_route(lab.edge, second, expect=False, within=1) is None
    assert "ip route 192.0.2.81/32 Null0\n" in probes.vtysh(lab.edge, "show running-config")


_PUSH_IN_A_FRESH_PROCESS = """
import json, sys
from enforcer.inventory import load_inventory
from enforcer.lab.testing import enforcement, push
from enforcer.model import ActionKind
from enforcer.drivers import get_driver
inventory = load_inventory(sys.argv[1])
device = next(d for d in inventory.devices.values() if d.platform == "frr")
with get_driver(device) as frr:
    push(frr, [enforcement(ActionKind.NULL_ROUTE, sys.argv[2])], inventory, revert_in=30)
    frr.confirm_commit()
    pushed = "netmiko" in sys.modules
    interfaces = sorted(frr.interfaces())
print(json.dumps({"netmiko_for_the_push": pushed, "interfaces": interfaces}))
"""


def test_a_push_opens_no_interactive_vtysh_login_only_cli_does(lab: Lab):
    """Reads and pushes are SSH execs: the interactive vtysh login (netmiko's import, its prompt
    dance, a vtysh process on the router) is opened only for ``cli`` (show commands)."""
    import json
    import subprocess
    import sys

    target = "203.0.113.33/32"
    proc = subprocess.run([sys.executable, "-c", _PUSH_IN_A_FRESH_PROCESS, str(lab.inventory_path), target],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["netmiko_for_the_push"] is False
    assert probes.kernel_route(lab.edge, target, type="blackhole")
    assert out["interfaces"], "cli() through the interactive session still answers"


def test_commit_with_revert_in_reverts_by_itself_when_not_confirmed(lab: Lab, edge_frr):
    target = probes.host_prefix(lab.customer_hosts("cust1")[0])
    push(edge_frr, [enforcement(ActionKind.NULL_ROUTE, target)], lab.inventory, revert_in=2)
    assert edge_frr.has_pending_commit()
    assert probes.kernel_route(lab.edge, target, type="blackhole")

    # Nobody confirms: the router restores its checkpoint on its own.
    assert probes.kernel_route(lab.edge, target, expect=False, within=20) is None
    assert edge_frr.get_managed_section() == ""
    assert not edge_frr.has_pending_commit()


def test_confirmed_commit_cancels_the_revert_timer(lab: Lab, edge_frr):
    target = probes.host_prefix(lab.customer_hosts("cust1")[0])
    desired = push(edge_frr, [enforcement(ActionKind.NULL_ROUTE, target)], lab.inventory, revert_in=30)
    timer = _pending_timer_pid(lab)
    assert pid_alive(timer)
    edge_frr.confirm_commit()
    assert not edge_frr.has_pending_commit()
    assert probes.eventually(lambda: not pid_alive(timer), bool, 5)
    assert edge_frr.get_managed_section() == desired


def test_a_second_commit_is_refused_while_a_commit_confirm_is_pending(lab: Lab, edge_frr):
    first, second = (probes.host_prefix(h) for h in lab.customer_hosts("cust1")[:2])
    desired = push(edge_frr, [enforcement(ActionKind.NULL_ROUTE, first)], lab.inventory, revert_in=30)
    timer = _pending_timer_pid(lab)
    with pytest.raises(CommitRefused, match="commit-confirm is pending") as err:
        push(edge_frr, [enforcement(ActionKind.NULL_ROUTE, second)], lab.inventory, revert_in=30)
    assert err.value.device == edge_frr.device.name
    assert pid_alive(timer) and _pending_timer_pid(lab) == timer
    assert edge_frr.get_managed_section() == desired


def test_a_commit_left_pending_after_the_read_aheads_answer_is_refused_at_commit_not_pushed_over(lab: Lab, edge_frr):
    """``apply -y``'s login reads ahead with the pending question (``commit-pending show-running``)
    and, told none is pending, does not ask again after the lease. A pusher that dies in between,
    inside its confirm window, leaves a commit pending that answer never saw: the router refuses
    the commit over it (exit 3), nothing is applied, its timer is left to the next apply to settle."""
    first, second = (probes.host_prefix(h) for h in lab.customer_hosts("cust1")[:2])
    with lab.driver(platform="frr") as apply:
        execs: list[str] = []
        real_exec = apply._exec
        apply._exec = lambda command, *a, **kw: execs.append(command) or real_exec(command, *a, **kw)
        apply.read_ahead()  # the login thread, before the lease: none pending
        desired = push(edge_frr, [enforcement(ActionKind.NULL_ROUTE, first)], lab.inventory, revert_in=30)
        timer = _pending_timer_pid(lab)  # the other pusher, killed before its confirm
        plan = plan_for(apply, [second], lab.inventory, ask_pending=True)
        assert not plan.pending  # the read-ahead's answer: not asked again
        result = push_plan(apply, plan)
    assert not result.ok and "commit-confirm is pending" in result.error, result.error
    assert not result.rolled_back
    assert [c.split()[0] for c in execs] == ["commit-pending", "load-commit"], execs
    assert execs[0] == "commit-pending show-running"
    assert probes.kernel_route(lab.edge, second, expect=False, within=1) is None  # nothing pushed over it
    assert pid_alive(timer) and _pending_timer_pid(lab) == timer
    assert edge_frr.get_managed_section() == desired


def plan_for(driver, targets: list[str], inventory, ask_pending: bool = False):
    """The plan of null routes for ``targets`` against what the driver reads (or may reuse)."""
    from enforcer.push import plan_device

    enforcements = [enforcement(ActionKind.NULL_ROUTE, t) for t in targets]
    return plan_device(driver.device, enforcements, inventory, driver, now(), ask_pending=ask_pending)


def _pending_timer_pid(lab: Lab) -> int:
    import json

    pending = lab.state_dir / "routers" / lab.edge.name / "commits" / "pending.json"
    return int(json.loads(pending.read_text())["pid"])


def test_a_router_whose_management_is_down_fails_with_an_error_naming_it(lab: Lab):
    lab.management(lab.edge, up=False)
    with pytest.raises(DriverError) as err:
        lab.driver(platform="frr").open()
    assert err.value.device == lab.device(platform="frr").name
    assert "cannot reach" in str(err.value)


def test_a_wrong_key_passphrase_is_an_authentication_failure_not_an_unreachable_router(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
):
    device = lab.device(platform="frr")
    monkeypatch.setenv(device.password_env, "not-the-passphrase")
    with pytest.raises(AuthenticationFailed) as err:
        lab.driver(platform="frr").open()
    assert err.value.device == device.name
    assert "authentication failed" in str(err.value) and "cannot reach" not in str(err.value)
    assert device.password_env in str(err.value), "the operator is told which secret to fix"


def test_a_key_in_the_nocs_ssh_agent_logs_in_and_pushes_with_no_passphrase_at_all(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
):
    """The key file is never decrypted when the agent holds it: with the passphrase variable
    unset, the login, a confirmed push, its read-back and an interactive cli() all go through."""
    device = lab.device(platform="frr")
    key = Path(device.optional_args["key_file"])
    passphrase = (key.parent / "passphrase").read_text().strip()
    monkeypatch.delenv(device.password_env, raising=False)
    with pytest.raises(AuthenticationFailed):  # without the agent, the file needs its passphrase
        lab.driver(platform="frr").open()
    blocked = probes.host_prefix(lab.customer_hosts("cust1")[0])
    with ssh_agent(key, passphrase) as env:
        monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
        with lab.driver(platform="frr") as driver:
            desired = push(driver, [enforcement(ActionKind.NULL_ROUTE, blocked)], lab.inventory, revert_in=60)
            driver.confirm_commit()
            assert driver.get_managed_section() == desired
            assert "FRRouting" in driver.cli(["show version"])["show version"], "netmiko's login takes it too"
    assert probes.kernel_route(lab.edge, blocked, type="blackhole")


def test_rtbh_makes_the_upstream_install_a_discard_route_for_the_victim(lab: Lab, edge_frr):
    victim, neighbour = lab.customer_hosts("cust1")[:2]
    target = probes.host_prefix(victim)
    push(edge_frr, [enforcement(ActionKind.RTBH, target, Violation.DDOS_VICTIM)], lab.inventory)

    # The upstream hears the /32 with BLACKHOLE and its kernel discards traffic for it.
    assert probes.kernel_route(lab.upstream, target, type="blackhole")
    assert "blackhole" in probes.bgp_route(lab.upstream, target)[0]["communities"]
    assert not probes.ping(lab.internet_host, probes.address(victim), expect=False)
    assert probes.ping(lab.internet_host, probes.address(neighbour))

    edge_frr.rollback()
    assert probes.bgp_has(lab.upstream, target, expect=False) is False
    assert probes.ping(lab.internet_host, probes.address(victim))


def test_prefix_filter_removes_the_hijack_from_edge_and_upstream_but_keeps_the_customer_prefix(lab: Lab, edge_frr):
    inv = lab.inventory
    cust = inv.customers[lab.customer_router.customer]
    legit = str(cust.prefixes[0])
    hijacked = str(HIJACK_PREFIX)
    lab.hijack(True)
    assert probes.bgp_has(lab.edge, hijacked)
    assert probes.bgp_has(lab.upstream, hijacked)

    filt = enforcement(ActionKind.PREFIX_FILTER, hijacked, Violation.BGP_HIJACK, customer=cust.id, asn=cust.asn)
    push(edge_frr, [filt], inv)

    assert probes.bgp_has(lab.edge, hijacked, expect=False) is False
    assert probes.bgp_has(lab.upstream, hijacked, expect=False) is False
    assert probes.bgp_has(lab.edge, legit)
    assert probes.bgp_has(lab.upstream, legit)


def test_a_candidate_that_fails_halfway_on_the_router_leaves_nothing_behind(lab: Lab, edge_frr):
    # Syntax is fine (vtysh -C passes), but the router refuses the second block at apply time:
    # vtysh -f is not atomic, so the router must put back the lines it had already taken.
    target = probes.host_prefix(lab.customer_hosts("cust1")[0])
    before = edge_frr.get_config()
    edge_frr.load_merge_candidate(f"ip route {target} Null0 tag 667\nrouter bgp 64999\n bgp router-id 192.0.2.1\n")
    with pytest.raises(DriverError, match="commit failed") as err:
        edge_frr.commit_config()
    assert err.value.device == edge_frr.device.name
    assert edge_frr.get_config() == before
    assert probes.kernel_route(lab.edge, target, expect=False, within=3) is None
