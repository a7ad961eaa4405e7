"""The vendor running configurations under ``tests/fixtures/running``, and what enforcer reads of them.

The files are written the way each device prints its configuration (see the README there). These
tests check what every later test relies on. The managed section enforcer cuts out of a live
config holds none of the operator's lines. A device that already carries enforcer's objects
plans to zero changes. The FRR files are accepted by FRR's own parser.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest

from enforcer.drivers.base import BLOCK_CLOSERS, extract_managed
from enforcer.drivers.offline import OfflineDriver
from enforcer.inventory import Inventory, Platform, load_inventory
from enforcer.model import ActionKind, ActionParams, Enforcement
from enforcer.push import plan_device
from enforcer.render import platform_info

REPO = Path(__file__).resolve().parent.parent
RUNNING = Path(__file__).resolve().parent / "fixtures" / "running"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

#: The example inventory's edge device and the customer with a BGP session on it, per platform.
EDGE = {
    Platform.IOS: ("ios-edge1", "acme"),
    Platform.IOSXR: ("iosxr-edge1", "globex"),
    Platform.JUNOS: ("junos-edge1", "acme"),
    Platform.EOS: ("eos-edge1", "acme"),
    Platform.NXOS: ("nxos-edge1", "globex"),
    Platform.FRR: ("frr-edge1", "acme"),
}
VARIANTS = ("occupied", "no-room", "enforced")


def running(platform: Platform, variant: str) -> str:
    return (RUNNING / platform.value / f"{variant}.txt").read_text()


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(REPO / "inventory" / "example")


def enforced_set(customer: str) -> list[Enforcement]:
    """The enforcements that ``enforced.txt`` carries (listed in the fixtures' README)."""

    def one(eid: int, action: str, target: str, **kw) -> Enforcement:
        kw.setdefault("violation", "spam")
        return Enforcement(id=eid, decision_id=eid, action=ActionKind(action), target=ip_network(target),
                           comment=f"ticket {eid}", created_at=T0, expires_at=T0 + timedelta(days=1), **kw)

    smtp = ActionParams(protocol="tcp", ports=(25,))
    return [
        one(101, "acl", "198.51.100.20", params=smtp),
        one(102, "acl", "2001:db8:100::20", params=smtp),
        one(201, "null-route", "203.0.113.7", violation="malware-hosting"),
        one(501, "prefix-filter", "203.0.113.128/25", violation="bgp-hijack", customer=customer),
    ]


def operator_lines(section: str, platform: Platform) -> list[str]:
    """Lines of an extracted section that are neither enforcer's nor the parents/closers of enforcer's."""
    patterns = [re.compile(p) for p in platform_info(platform).managed]
    lines = section.splitlines()
    indents = [len(ln) - len(ln.lstrip()) for ln in lines]
    foreign = []
    for i, line in enumerate(lines):
        text = line.strip()
        if any(p.search(text) for p in patterns) or text in BLOCK_CLOSERS:
            continue
        # A parent: the next line is indented deeper and, somewhere in its block, enforcer's.
        block = []
        for j in range(i + 1, len(lines)):
            if indents[j] <= indents[i]:
                break
            block.append(lines[j].strip())
        if any(p.search(b) for b in block for p in patterns):
            continue
        # Junos/nftables children of a managed parent inherit it.
        parents = [lines[k].strip() for k in range(i) if indents[k] < indents[i]]
        if any(p.search(par) for par in parents for p in patterns):
            continue
        foreign.append(line)
    return foreign


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("platform", list(EDGE), ids=str)
def test_the_managed_section_of_a_real_config_holds_no_operator_line(platform, variant):
    live = running(platform, variant)
    section = extract_managed(live, platform_info(platform))
    assert operator_lines(section, platform) == []
    assert operator_lines("router bgp 65000\n neighbor 192.0.2.98 remote-as 64496\n", platform), "the check sees lines"
    operator_objects = set(re.findall(r"\b(?:CUST|REJECT|STATIC-TO|TRANSIT|UPSTREAM|MGMT|DROP)-[-\w]+", live))
    assert operator_objects, "the fixture names operator objects"
    assert not [o for o in operator_objects if o in section]
    if variant != "enforced":
        assert section == "", "a config without enforcer objects has an empty managed section"


@pytest.mark.parametrize("platform", [Platform.JUNOS, Platform.EOS, Platform.FRR, Platform.IOSXR, Platform.NXOS, Platform.IOS],
                         ids=str)
def test_a_device_already_carrying_enforcers_objects_plans_no_change(inventory, platform, tmp_path):
    """Read → plan converges. Junos only does since the NAPALM driver reads `set` format (as here).
    IOS XR and NX-OS print their top-level blocks in another order than the render (XR: prefix-set
    after the interfaces; NX-OS: interfaces after the ACLs and prefix-lists): both sides are
    compared in the render's order (``tree.block_order``, enforcer.conftree.canonical).

    IOS converges since its fixtures print IPv6 ACL entries with their numbers, as a capture of
    IOS shows (the fixtures' README; the numbered IPv6 remark is the least certain line).
    """
    name, customer = EDGE[platform]
    device = inventory.device(name).model_copy(update={"snapshot": RUNNING / platform.value / "enforced.txt"})
    # The plan path `enforcer plan` takes: slots read, composed, rendered, diffed against the live section.
    plan = plan_device(device, enforced_set(customer), inventory, OfflineDriver(device, output_dir=tmp_path), T0)
    assert plan.summary() == "+0 ~0 -0", plan.diff
    live = plan.live
    assert "ENFORCER-HIJACK" in live and ("Null0" in live or "discard" in live)


@pytest.mark.parametrize("variant", VARIANTS)
def test_frr_accepts_its_fixtures_line_by_line(tmp_path, variant):
    """`vtysh -C` parses every line (the two `show running-config` banner lines are output only)."""
    if shutil.which("vtysh") is None:
        pytest.fail("vtysh (FRR) is needed to check the FRR fixtures")
    text = running(Platform.FRR, variant)
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith(("Building configuration", "Current configuration")))
    conf = tmp_path / "frr.conf"
    conf.write_text(body + "\n")
    r = subprocess.run(["vtysh", "--config_dir", str(tmp_path), "-C", "-f", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
