"""Composition against a real FRR 8.4: enforcer's denies go into the operator's own inbound
prefix-list, entry by entry, and what FRR prints back is exactly the plan's desired section.

One private FRR (zebra, staticd, bgpd) in a scratch namespace, configured as an operator would:
the customer's session filtered by `CUST-ACME-IN` / `CUST-ACME-IN6`. Each step plans the way
`enforcer plan` does (push.plan_device over the FRR driver's reading), sends the candidate with
`vtysh -f`, and reads the running config back.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import uuid
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest

from enforcer.compose import live_section
from enforcer.drivers.base import extract_managed
from enforcer.inventory import load_inventory
from enforcer.lab.frrd import FrrInstance
from enforcer.lab.proc import stop_pid
from enforcer.model import ActionKind, Enforcement, now
from enforcer.push import plan_device
from enforcer.render import platform_info, render_push

from ..conftest import EXAMPLE_INVENTORY
from ..test_compose import FRR_OCCUPIED, OUT_MAP

pytestmark = pytest.mark.lab

#: the operator's configuration of tests/test_compose.py, without the banner `show running-config` adds
OPERATOR = FRR_OCCUPIED[FRR_OCCUPIED.index("!"):]


class VtyshDevice:
    """The driver calls plan_device makes, answered by the private FRR's vtysh."""

    def __init__(self, frr: FrrInstance, device):
        self.frr, self.device, self.info = frr, device, platform_info(device.platform)

    def get_config(self) -> str:
        return self.frr.running_config()

    def get_managed_section(self) -> str:
        config = self.get_config()
        return live_section(self.device, config, extract_managed(config, self.info))

    def has_pending_commit(self) -> bool:
        return False

    def conflicts(self, section: str) -> list:
        return []

    def same_moment(self):
        return contextlib.nullcontext()


@pytest.fixture
def frr(request):
    ns = f"enfcomp-{uuid.uuid4().hex[:8]}"
    root = Path(tempfile.mkdtemp(prefix=f"{ns}-"))
    root.chmod(0o755)  # the daemons run as user frr: pytest's tmp_path is private to root
    subprocess.run(["ip", "netns", "add", ns], check=True)
    inst = FrrInstance("frr-edge1", ns, root / "frr")
    try:
        inst.prepare(getattr(request, "param", OPERATOR))
        inst.start()
        yield inst
    finally:
        for pid in inst.pids().values():
            stop_pid(pid)
        subprocess.run(["ip", "netns", "delete", ns], check=False)
        shutil.rmtree(root, ignore_errors=True)


def hijack(eid: int, target: str) -> Enforcement:
    return Enforcement(id=eid, decision_id=eid, action=ActionKind.PREFIX_FILTER, target=ip_network(target),
                       violation="bgp-hijack", customer="acme", created_at=now(),
                       expires_at=now() + timedelta(hours=1))


def test_hijack_denies_compose_into_the_operators_lists_and_read_back_exactly(frr, tmp_path):
    inv = load_inventory(EXAMPLE_INVENTORY)
    device = VtyshDevice(frr, inv.device("frr-edge1"))
    operator = [ln for ln in frr.running_config().splitlines() if "prefix-list" in ln]
    steps = [
        [hijack(1, "203.0.113.128/25")],
        [hijack(1, "203.0.113.128/25"), hijack(2, "203.0.113.0/26"), hijack(3, "2001:db8:300::/48")],
        [hijack(2, "203.0.113.0/26")],
        [],
    ]
    for enforcements in steps:
        plan = plan_device(device.device, enforcements, inv, device, now())
        assert plan.error is None
        assert (plan.slots or not enforcements) and all(s.mode.value == "composed" for s in plan.slots)
        candidate = render_push(device.device, plan.desired, plan.live, plan.removed_lines)
        assert "ENFORCER-HIJACK" not in candidate
        (tmp_path / "candidate.conf").write_text(candidate)
        subprocess.run(frr.vtysh_argv() + ["-f", str(tmp_path / "candidate.conf")], check=True, timeout=30)
        assert device.get_managed_section() == plan.desired
        # the operator's own entries and bindings are all still there
        running = frr.running_config().splitlines()
        assert all(line in running for line in operator)
    assert [ln for ln in frr.running_config().splitlines() if "prefix-list" in ln] == operator


OUT_MAP = OUT_MAP[OUT_MAP.index("!"):]


def rtbh(eid: int, target: str) -> Enforcement:
    return Enforcement(id=eid, decision_id=eid, action=ActionKind.RTBH, target=ip_network(target),
                       violation="ddos-victim", created_at=now(), expires_at=now() + timedelta(hours=1))


@pytest.mark.parametrize(("frr", "mode"), [(OPERATOR, "free"), (OUT_MAP, "composed")], indirect=["frr"],
                         ids=["guard-free", "guard-composed"])
def test_rtbh_guard_on_the_customer_session_reads_back_exactly(frr, mode, tmp_path):
    """FRR prints community-lists and route-maps in its own order; the plan must still converge."""
    inv = load_inventory(EXAMPLE_INVENTORY)
    device = VtyshDevice(frr, inv.device("frr-edge1"))
    before = frr.running_config()
    for enforcements in ([rtbh(1, "203.0.113.9")], [rtbh(1, "203.0.113.9"), rtbh(2, "203.0.113.10")], []):
        plan = plan_device(device.device, enforcements, inv, device, now())
        assert plan.error is None
        guards = [s for s in plan.slots if s.slot.startswith("neighbor 192.0.2.109 outbound")]
        assert all(g.mode.value == mode for g in guards) and (guards or not enforcements)
        candidate = render_push(device.device, plan.desired, plan.live, plan.removed_lines)
        (tmp_path / "candidate.conf").write_text(candidate)
        subprocess.run(frr.vtysh_argv() + ["-f", str(tmp_path / "candidate.conf")], check=True, timeout=30)
        assert device.get_managed_section() == plan.desired
    assert frr.running_config() == before
