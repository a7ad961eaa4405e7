"""An Open vSwitch lab of its own (unique prefix) with enforcer's controller, a store and an inventory.

The switch is ``ofsw1`` (role edge, so the stock playbooks reach it); its hosts h1/h2/h3 are
198.18.0.11-13 (and 2001:db8:18::11-13). Decisions go in through :func:`enforcer.service.submit`
and out through :func:`enforcer.service.apply`, exactly as ``enforcer block`` / ``enforcer apply``.
What the switch holds is read with ``ovs-ofctl`` on the bridge's management socket, never through
the controller under test.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from enforcer import service
from enforcer.lab import ovs
from enforcer.model import Decision, Status
from enforcer.settings import Settings

T = TypeVar("T")
SWITCH = ovs.DEVICE_NAME
CUSTOMER = "of-cust1"
H1, H2, H3 = (str(v4.ip) for _, v4, _ in ovs.HOSTS)
H1_6, H2_6, H3_6 = (str(v6.ip) for _, _, v6 in ovs.HOSTS)


@dataclass
class OfLab:
    prefix: str
    state_dir: Path
    inventory: Path
    db: str

    def ns(self, host: str) -> str:
        return ovs.host_netns(self.prefix, host)

    def context(self) -> service.Context:
        return service.Context.open(Settings(inventory=self.inventory, db=self.db))


@pytest.fixture(scope="session")
def oflab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfLab]:
    if os.geteuid() != 0:
        pytest.fail("OpenFlow lab tests need root (network namespaces, Open vSwitch); run them as root")
    root = tmp_path_factory.mktemp("openflow")
    prefix = f"oft{os.getpid() % 100000}"
    state_dir, inventory = root / "ovs", root / "inventory"
    inventory.mkdir()
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(ovs.inventory_hosts(state_dir, prefix)))
    # h1 is a customer on switch port p1: what an anti-spoof (BCP 38) decision is built from
    customer = {"prefixes": [f"{H1}/32", f"{H1_6}/128"], "attachments": [{"device": SWITCH, "interface": "p1"}]}
    (inventory / "customers.yaml").write_text(yaml.safe_dump({CUSTOMER: customer}))
    lab = OfLab(prefix, state_dir, inventory, f"sqlite:///{root / 'enforcer.db'}")
    try:
        # No periodic resync (only on connect): it installs the store's set and repairs a hand edit by
        # itself, so a test that stores a decision or edits the switch and then plans would race it
        # (a plan of +0 after a block was seen under load in the lab suite, session 8).
        ovs.up(state_dir, prefix, inventory=inventory, db=lab.db, resync_interval=0)
        yield lab
    finally:
        ovs.down(state_dir, prefix)


@pytest.fixture
def ctx(oflab: OfLab) -> Iterator[service.Context]:
    """A fresh view of the store; afterwards every decision ends and the switch is emptied again."""
    context = oflab.context()
    yield context
    for record in context.store.decisions(active_only=True):
        context.store.end_decision(record.id, status=Status.REMOVED, actor="test", source="cli", reason="cleanup")
    if ovs.controller_running(oflab.state_dir):
        service.apply(context, SWITCH)


# ------------------------------------------------------------------ actions an operator takes


def block(ctx: service.Context, target: str, violation: str, customer: str | None = None) -> int:
    decision = {"target": target, "violation": violation, "actor": "noc", "customer": customer}
    result = service.submit(ctx, Decision.model_validate(decision))
    return result.decision_id


def apply(ctx: service.Context) -> None:
    [(plan, result)] = service.apply(ctx, SWITCH)
    assert result is not None and result.ok, (plan.error, result)


# ------------------------------------------------------------------ probes


def wait_until(what: str, probe: Callable[[], T], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)


def ping(lab: OfLab, host: str, address: str, count: int = 1, source: str | None = None) -> bool:
    """True when at least one echo reply comes back within a second (from ``source`` if given)."""
    frm = ["-I", source] if source else []
    proc = subprocess.run(
        ["ip", "netns", "exec", lab.ns(host), "ping", "-n", "-c", str(count), "-i", "0.2", "-W", "1", *frm, address],
        capture_output=True,
        text=True,
    )
    return proc.returncode == 0


_FLOW = re.compile(r"cookie=(0x[0-9a-f]+), (?:.*?)priority=(\d+)(?:,(\S+))? actions=(\S+)")


def switch_flows(lab: OfLab) -> list[str]:
    """Every flow on the bridge, as ``cookie=0x%016x priority=N MATCH actions=A`` (ovs-ofctl's view)."""
    out = ovs.ofctl(lab.state_dir, "dump-flows", "--no-stats", "--names")
    flows = []
    for line in out.splitlines():
        m = _FLOW.search(line)
        if m:
            cookie, prio, match, actions = m.groups()
            flows.append(f"cookie=0x{int(cookie, 16):016x} priority={prio} {match or '*'} actions={actions}")
    return sorted(flows)


def switch_meters(lab: OfLab) -> list[str]:
    out = ovs.ofctl(lab.state_dir, "dump-meters")
    text = re.sub(r"bands=\s*\n", "bands=", out)
    return sorted(line.strip() for line in text.splitlines() if line.startswith("meter="))


def enforcer_flows(lab: OfLab) -> list[str]:
    return [f for f in switch_flows(lab) if f.startswith("cookie=0xe4f0")]


def desired_lines(ctx: service.Context) -> tuple[list[str], list[str]]:
    """(flows, meters) the store says the switch must hold, rendered by templates/openflow."""
    text = service.render_device(ctx, SWITCH)
    lines = text.splitlines()
    return sorted(x for x in lines if x.startswith("cookie=")), sorted(x for x in lines if x.startswith("meter="))
