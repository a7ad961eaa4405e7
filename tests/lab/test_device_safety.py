"""Issue 11, points 1–3, on the lab's edge router: no silent reverts, reverts scoped to enforcer's own
lines, and a rollback that is verified by reading the router back.

* An ``apply`` killed between commit and confirm leaves a commit-confirm pending; the next pass
  (``apply`` or ``serve``'s loop) confirms it or rolls it back on purpose. The kill is made inside
  the window deterministically: the test freezes the apply (SIGSTOP) as soon as the router records
  the pending commit, checks it is still pending, then SIGKILLs it.
* A NOC edit made during the confirm window survives the revert; an operator's own
  ``ip route X Null0`` survives a block and an unblock of X untouched, and the collision is reported.
* Killing the router's login shell while it applies 3,000 routes leaves the router with the old or
  the new set, and enforcer's report says which, after reading the router back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enforcer.cli import app
from enforcer.lab import probes
from enforcer.lab.proc import pid_alive
from enforcer.lab.testing import Lab, enforcement, push
from enforcer.model import ActionKind
from enforcer.plan import make_plan
from enforcer.push import push_plan
from enforcer.render import build_section, render_section
from tests.helpers import serve_process

pytestmark = pytest.mark.lab


@pytest.fixture
def cli(lab: Lab, tmp_path: Path):
    """``enforcer …`` against the lab inventory with a private store (the FRR device only is applied).
    Leases of 5 s: a killed apply's device is free again 5 s after its last renewal, not 30."""
    env = {**os.environ, "ENFORCER_INVENTORY": str(lab.inventory_path), "COLUMNS": "200", "ENFORCER_LEASE_TTL": "5",
           "ENFORCER_DB": f"sqlite:///{tmp_path / 'enforcer.db'}", "ENFORCER_OUTPUT": str(tmp_path / "out")}  # fmt: skip
    argv = [sys.executable, "-m", "enforcer.cli"]

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*argv, *args], env=env, text=True, capture_output=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"enforcer {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    run.argv, run.env = argv, env  # type: ignore[attr-defined]
    return run


def _commits(lab: Lab) -> Path:
    return lab.state_dir / "routers" / lab.edge.name / "commits"


def _journal(lab: Lab) -> list[str]:
    path = Path(lab.edge.frr_dir) / "log" / "commits.log"
    return path.read_text().splitlines() if path.exists() else []


def _kill_apply_in_the_confirm_window(lab: Lab, cli, device: str) -> int:
    """Start ``enforcer apply --revert-in 120``; freeze it the moment the router holds its pending
    commit, make sure it had not confirmed yet, and kill it. Returns the router's timer pid."""
    pending = _commits(lab) / "pending.json"
    proc = subprocess.Popen([*cli.argv, "apply", "--yes", "--revert-in", "120", "--device", device],
                            env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    try:
        probes.eventually(lambda: pending.exists() or proc.poll() is not None, bool, 120, 0.002)
        os.killpg(proc.pid, signal.SIGSTOP)
        assert pending.exists(), "apply finished before it could be stopped in its confirm window"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    timer = int(json.loads(pending.read_text())["pid"])
    assert pid_alive(timer)
    return timer


def _apply_after_the_dead_pushers_lease(cli, device: str) -> dict:
    """``apply`` once the killed apply's device lease has lapsed (its holder died without releasing it:
    ``enforcer.lease`` gives it up ``ENFORCER_LEASE_TTL`` seconds after its last renewal)."""
    def attempt() -> dict:
        return json.loads(cli("apply", "--yes", "--device", device, "--json", check=False).stdout)[0]

    return probes.eventually(attempt, lambda r: not (r["error"] or "").startswith("device busy"), 90, 1.0)


def test_an_apply_killed_in_the_confirm_window_is_confirmed_by_the_next_apply(lab: Lab, cli):
    device = lab.device(platform="frr").name
    target = probes.host_prefix(lab.customer_hosts("cust1")[0])
    cli("block", target, "--violation", "malware-hosting", "--reason", "C2 server, ticket 4411")
    timer = _kill_apply_in_the_confirm_window(lab, cli, device)

    # The plan shows the pending commit (and counts it as a change, so apply does not say "no changes").
    [plan] = json.loads(cli("plan", "--device", device, "--json").stdout)
    assert plan["pending"] is True and plan["added"] == 0

    result = _apply_after_the_dead_pushers_lease(cli, device)
    assert result["ok"] and "held the desired state: confirmed" in result["settled"], result
    assert not (_commits(lab) / "pending.json").exists()
    assert probes.eventually(lambda: not pid_alive(timer), bool, 5)
    assert probes.kernel_route(lab.edge, target, type="blackhole")
    assert _journal(lab)[-1].endswith("commit confirmed")


def test_an_apply_killed_in_the_confirm_window_is_rolled_back_on_purpose_when_the_wish_changed(lab: Lab, cli):
    device = lab.device(platform="frr").name
    kept, dropped = (probes.host_prefix(h) for h in lab.customer_hosts("cust1")[:2])
    cli("block", kept, "--violation", "malware-hosting", "--reason", "C2 server, ticket 4411")
    cli("apply", "--yes", "--device", device)
    cli("block", dropped, "--violation", "malware-hosting", "--reason", "C2 server, ticket 4412")
    _kill_apply_in_the_confirm_window(lab, cli, device)
    cli("unblock", dropped, "--reason", "false positive")

    result = _apply_after_the_dead_pushers_lease(cli, device)
    assert result["ok"] and "rolled back on purpose" in result["settled"], result
    assert any(line.endswith("rollback done") for line in _journal(lab)[-2:])
    running = probes.vtysh(lab.edge, "show running-config")
    assert f"ip route {kept} Null0 tag 667" in running and dropped not in running
    assert not (_commits(lab) / "pending.json").exists()


def test_serve_confirms_a_commit_left_pending_by_a_killed_apply(lab: Lab, cli, tmp_path: Path):
    device = lab.device(platform="frr").name
    target = probes.host_prefix(lab.customer_hosts("cust1")[0])
    cli("block", target, "--violation", "malware-hosting", "--reason", "C2 server, ticket 4411")
    timer = _kill_apply_in_the_confirm_window(lab, cli, device)

    with serve_process(serve_options=["--interval", "1"], log=tmp_path / "serve.log", env=cli.env):
        probes.eventually(lambda: not (_commits(lab) / "pending.json").exists(), bool, 120, 0.2)
    assert not pid_alive(timer)
    journal = _journal(lab)
    assert "commit confirmed" in journal[-1] and not any("not confirmed" in line for line in journal[-3:])
    assert probes.kernel_route(lab.edge, target, type="blackhole")


def test_a_noc_edit_made_during_the_confirm_window_survives_the_revert(lab: Lab):
    target = probes.host_prefix(lab.customer_hosts("cust1")[0])
    with lab.driver(platform="frr") as frr:
        push(frr, [enforcement(ActionKind.NULL_ROUTE, target)], lab.inventory, revert_in=3)
        assert frr.has_pending_commit()
    probes.vtysh(lab.edge, "configure terminal", "ip route 192.0.2.77/32 Null0", "ip prefix-list NOC seq 5 permit 192.0.2.0/24")

    # Nobody confirms: the router takes back enforcer's line, and only that.
    assert probes.kernel_route(lab.edge, target, expect=False, within=20) is None
    running = probes.vtysh(lab.edge, "show running-config")
    assert "ip route 192.0.2.77/32 Null0" in running and "ip prefix-list NOC seq 5 permit 192.0.2.0/24" in running
    assert target not in running


def test_an_operators_own_null_route_survives_a_block_and_an_unblock_of_the_same_address(lab: Lab, cli):
    device = lab.device(platform="frr").name
    theirs = probes.host_prefix(lab.customer_hosts("cust1")[1])
    probes.vtysh(lab.edge, "configure terminal", f"ip route {theirs} Null0")

    cli("block", theirs, "--violation", "malware-hosting", "--reason", "C2 server, ticket 4413")
    [result] = json.loads(cli("apply", "--yes", "--device", device, "--json").stdout)
    [(_, why)] = result["withheld"]
    assert f"collides with the operator's 'ip route {theirs} Null0'" in why
    assert f"ip route {theirs} Null0\n" in probes.vtysh(lab.edge, "show running-config")

    cli("unblock", theirs, "--reason", "ticket closed")
    cli("apply", "--yes", "--device", device)
    running = probes.vtysh(lab.edge, "show running-config")
    assert f"ip route {theirs} Null0\n" in running and f"{theirs} Null0 tag" not in running
    assert probes.kernel_route(lab.edge, theirs, type="blackhole")


def test_killing_the_router_shell_mid_apply_leaves_the_old_or_the_new_set_and_says_which(lab: Lab):
    base = int(ip_address("100.64.0.0"))
    routes = [enforcement(ActionKind.NULL_ROUTE, f"{ip_address(base + i)}/32") for i in range(3000)]
    with lab.driver(platform="frr") as frr:
        desired = render_section(build_section(frr.device, routes, lab.inventory))
        plan = make_plan(frr.device.name, frr.device.platform, frr.device.effective_transport, desired, "")
        killed = threading.Event()
        killer = threading.Thread(target=_kill_login_shell_while_vtysh_applies, args=(lab, killed), daemon=True)
        killer.start()
        result = push_plan(frr, plan, revert_in=60)
        killer.join(5)
        assert killed.is_set(), f"the login shell was never caught applying: {result}"
        now = frr.get_managed_section()

    assert not result.ok and "commit interrupted" in result.error
    if now == "":
        assert result.error.endswith("rolled back, verified (the device holds its previous set)"), result.error
    else:
        assert now == desired and result.error.endswith("the device holds the new set (read back, verified)")
    assert not (_commits(lab) / "inflight").exists()


def _kill_login_shell_while_vtysh_applies(lab: Lab, killed: threading.Event) -> None:
    """SIGKILL the router's login shell (the process group sshd started) once its applier has marked
    the apply in flight (the ``inflight`` file, holding the applier's pid, is written just before
    ``vtysh -f``)."""
    inflight = _commits(lab) / "inflight"
    applier = probes.eventually(lambda: inflight.exists() and inflight.read_text().strip(), bool, 120, 0.005)
    shell = _ppid(int(applier))
    os.killpg(os.getpgid(shell), signal.SIGKILL)
    killed.set()


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_validate_live_refuses_an_attachment_to_a_neighbour_that_is_not_a_bgp_peer(lab: Lab, cli, tmp_path: Path):
    import yaml

    inventory = tmp_path / "inventory"
    inventory.mkdir()
    for f in lab.inventory_path.glob("*.yaml"):
        (inventory / f.name).write_text(f.read_text())
    customers = yaml.safe_load((inventory / "customers.yaml").read_text())
    frr = lab.device(platform="frr").name
    i, att = next((i, a) for i, a in enumerate(customers["cust1"]["attachments"]) if a["device"] == frr)
    att["neighbor"] = "192.0.2.99"
    att.pop("interconnect", None)  # the lab's interconnect holds the real neighbour, not this one
    (inventory / "customers.yaml").write_text(yaml.safe_dump(customers))

    assert cli("--inventory", str(inventory), "validate").returncode == 0, "offline, nothing can tell"
    proc = cli("--inventory", str(inventory), "validate", "--live", check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"customers.cust1.attachments.{i}.neighbor: 192.0.2.99 is not a BGP peer of {frr}" in proc.stderr
    assert "interface" not in proc.stderr, "the real interfaces were found on the live devices"


def test_one_bad_input_is_withheld_alone_and_every_other_enforcement_on_the_device_is_pushed(
    lab: Lab, cli, tmp_path: Path
):
    """Issue 11.4 on the lab: 25 spoofing decisions for one customer (the merged nft comment passes
    128 characters) and a hijack filter bound to a neighbour that is not a BGP peer. Each is
    withheld alone; the firewall and the router take everything else."""
    import yaml

    inventory = tmp_path / "inventory"
    inventory.mkdir()
    for f in lab.inventory_path.glob("*.yaml"):
        (inventory / f.name).write_text(f.read_text())
    customers = yaml.safe_load((inventory / "customers.yaml").read_text())
    frr, fw = lab.device(platform="frr").name, lab.device(platform="nftables").name
    bad = next(a for a in customers["cust1"]["attachments"] if a["device"] == frr)
    bad["neighbor"] = "192.0.2.99"
    bad.pop("interconnect", None)  # the lab's interconnect holds the real neighbour, not this one
    (inventory / "customers.yaml").write_text(yaml.safe_dump(customers))
    run = lambda *args, **kw: cli("--inventory", str(inventory), *args, **kw)  # noqa: E731

    def record(*args: str) -> None:
        """``enforcer block …`` in this process: the 28 decisions are only the input here, and a
        Python start-up per block would cost more than the applies under test."""
        result = CliRunner().invoke(app, ["--inventory", str(inventory), *args], env=cli.env)
        assert result.exit_code == 0, result.output

    offender, blocked = lab.customer_hosts("cust1")[:2]
    prefix = str(ip_network(customers["cust1"]["prefixes"][0]))
    for i in range(1, 26):
        record("block", f"{ip_network(prefix)[i]}/32", "--violation", "spoofing", "--customer", "cust1",
               "--reason", f"forged sources, ticket {i}")  # fmt: skip
        if i == 1:  # a store that has run for a while: enforcement ids have six digits
            _renumber_enforcements(cli.env["ENFORCER_DB"], 100_000)
    record("block", probes.host_prefix(offender), "--violation", "spam", "--reason", "outbound spam, ticket 26")
    record("block", "198.51.100.128/25", "--violation", "bgp-hijack", "--customer", "cust1", "--force",
           "--reason", "hijack, ticket 27")  # fmt: skip
    record("block", probes.host_prefix(blocked), "--violation", "malware-hosting", "--reason", "C2, ticket 28")

    [on_fw] = json.loads(run("apply", "--yes", "--device", fw, "--json").stdout)
    assert on_fw["ok"], on_fw
    assert on_fw["withheld"] and all("comment of" in why for _, why in on_fw["withheld"])
    table = subprocess.run(["ip", "netns", "exec", lab.edge.netns, "nft", "list", "table", "inet", "enforcer"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "anti-spoof cust1" in table and probes.address(offender) in table

    [on_frr] = json.loads(run("apply", "--yes", "--device", frr, "--json").stdout)
    assert on_frr["ok"], on_frr
    [(_, why)] = on_frr["withheld"]
    assert "192.0.2.99, which is not a BGP neighbour" in why
    assert probes.kernel_route(lab.edge, probes.host_prefix(blocked), type="blackhole")


def _renumber_enforcements(db_url: str, first: int) -> None:
    import sqlite3

    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE enforcements SET id = id + ?", (first - 1,))
