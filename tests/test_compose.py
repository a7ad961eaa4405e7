"""Composing with the operator's configuration (issue 9): each slot is read before it is used.

The live configurations below are written the way FRR 8.4 (`show running-config`) and IOS XE
(`show running-config`) print them, with the operator's own customer filter in place: an inbound
prefix-list on the customer's BGP session (`seq 5 permit <the customer's /24>`, the automatic
numbering both start at). The plan is computed the way `enforcer plan` does it (the offline
driver reads the snapshot), and the candidate the way `enforcer apply` sends it.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest

from enforcer import service
from enforcer.drivers.offline import OfflineDriver
from enforcer.inventory import InventoryError, load_inventory
from enforcer.model import ActionKind, Enforcement
from enforcer.render import render_push
from enforcer.settings import Settings

from .conftest import EXAMPLE_INVENTORY

T0 = datetime(2026, 1, 1, tzinfo=UTC)

FRR_OCCUPIED = """Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname frr-edge1
!
ip route 0.0.0.0/0 192.0.2.98
!
router bgp 65000
 neighbor 192.0.2.98 remote-as 64496
 neighbor 192.0.2.109 remote-as 64500
 !
 address-family ipv4 unicast
  neighbor 192.0.2.98 route-map UPSTREAM-OUT out
  neighbor 192.0.2.109 prefix-list CUST-ACME-IN in
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor 192.0.2.109 activate
  neighbor 192.0.2.109 prefix-list CUST-ACME-IN6 in
 exit-address-family
exit
!
ip prefix-list CUST-ACME-IN seq 5 permit 198.51.100.0/25
ip prefix-list CUST-ACME-IN seq 10 deny any
!
ipv6 prefix-list CUST-ACME-IN6 seq 5 permit 2001:db8:100::/48
ipv6 prefix-list CUST-ACME-IN6 seq 10 deny any
!
route-map UPSTREAM-OUT permit 10
exit
!
end
"""

IOS_OCCUPIED = """Building configuration...

Current configuration : 1804 bytes
!
version 17.9
hostname ios-edge1
!
interface GigabitEthernet0/0/1
 description customer acme
 ip address 192.0.2.102 255.255.255.252
!
router bgp 65000
 bgp log-neighbor-changes
 neighbor 192.0.2.101 remote-as 64500
 !
 address-family ipv4
  neighbor 192.0.2.101 activate
  neighbor 192.0.2.101 prefix-list CUST-ACME-IN in
 exit-address-family
!
ip prefix-list CUST-ACME-IN seq 5 permit 198.51.100.0/25
ip prefix-list CUST-ACME-IN seq 10 deny 0.0.0.0/0 le 32
!
end
"""


EOS_OCCUPIED = """! Command: show running-config
! device: eos-edge1 (vEOS-lab, EOS-4.30.1F)
!
hostname eos-edge1
!
interface Ethernet1
   description customer acme
   no switchport
   ip address 192.0.2.114/30
!
ip prefix-list CUST-ACME-IN
   seq 10 permit 198.51.100.0/25
   seq 20 deny 0.0.0.0/0 le 32
!
ip routing
!
router bgp 65000
   neighbor 192.0.2.113 remote-as 64500
   !
   address-family ipv4
      neighbor 192.0.2.113 activate
      neighbor 192.0.2.113 prefix-list CUST-ACME-IN in
!
end
"""

NXOS_OCCUPIED = """!Command: show running-config
!Running configuration last done at: Tue Dec  1 09:12:44 2026
version 10.3(2) Bios:version
hostname nxos-edge1
feature bgp

ip prefix-list CUST-GLOBEX-IN seq 5 permit 203.0.113.0/24 le 24

interface Ethernet1/1
  no switchport
  ip address 192.0.2.122/30
  no shutdown
router bgp 65000
  neighbor 192.0.2.121
    remote-as 64501
    address-family ipv4 unicast
      prefix-list CUST-GLOBEX-IN in
"""


def hijack(eid: int, target: str, customer: str = "acme") -> Enforcement:
    return Enforcement(id=eid, decision_id=eid, action=ActionKind.PREFIX_FILTER, target=ip_network(target),
                       violation="bgp-hijack", customer=customer, created_at=T0, expires_at=T0 + timedelta(days=1))


@pytest.fixture
def ctx_with(tmp_path: Path, db_url: str):
    """A context over a copy of the example inventory whose ``device`` snapshot is ``config``."""

    def make(device: str, config: str, hosts_extra: str = "") -> service.Context:
        inv = tmp_path / "inventory"
        shutil.copytree(EXAMPLE_INVENTORY, inv, dirs_exist_ok=True)
        snapshot = load_inventory(inv).device(device).snapshot
        if snapshot is None:
            snapshot = Path(f"snapshots/{device}.cfg")
            hosts_extra += f"  snapshot: {snapshot}\n"
        (inv / snapshot).write_text(config)
        if hosts_extra:
            (inv / "hosts.yaml").write_text((inv / "hosts.yaml").read_text().replace(
                f"{device}:\n", f"{device}:\n{hosts_extra}", 1))
        return service.Context.open(Settings(inventory=inv, db=db_url, output=tmp_path / "out"))

    return make


def plan_and_candidate(ctx: service.Context, device: str, enforcements: list[Enforcement]):
    dev = ctx.inventory.device(device)
    with OfflineDriver(dev, output_dir=ctx.settings.output) as driver:
        plan = service._plan_with(ctx, dev, enforcements, driver, T0)
    candidate = None if plan.error else render_push(dev, plan.desired, plan.live, plan.removed_lines)
    return plan, candidate


def operator_lines(config: str) -> set[str]:
    return {ln.strip() for ln in config.splitlines() if ln.strip() and ln.strip() != "!"}


INLINE = "ip prefix-list {} seq 1 deny 203.0.113.128/25 le 32"


@pytest.mark.parametrize(("device", "config", "name", "neighbor", "entry"), [
    ("frr-edge1", FRR_OCCUPIED, "CUST-ACME-IN", "192.0.2.109", INLINE),
    ("ios-edge1", IOS_OCCUPIED, "CUST-ACME-IN", "192.0.2.101", INLINE),
    ("eos-edge1", EOS_OCCUPIED, "CUST-ACME-IN", "192.0.2.113", "ip prefix-list {}\n   seq 1 deny 203.0.113.128/25 le 32"),
    ("nxos-edge1", NXOS_OCCUPIED, "CUST-GLOBEX-IN", "192.0.2.121", INLINE),
], ids=["frr", "ios", "eos", "nxos"])
def test_hijack_deny_goes_into_the_operators_prefix_list_and_keeps_it_bound(ctx_with, device, config, name,
                                                                           neighbor, entry):
    customer = "globex" if device == "nxos-edge1" else "acme"
    plan, candidate = plan_and_candidate(ctx_with(device, config), device,
                                         [hijack(501, "203.0.113.128/25", customer)])
    assert plan.error is None
    v4 = next(s for s in plan.slots if "IPv4" in s.slot)
    assert (v4.mode.value, v4.operator_object) == ("composed", name)
    assert f"neighbor {neighbor}" in v4.slot and "operator" in v4.reason
    lines = candidate.splitlines()
    assert entry.format(name) in candidate
    # the operator's binding is never replaced, nothing of the operator's is negated
    assert "ENFORCER-HIJACK" not in candidate
    assert not any(ln.strip().startswith("no ") for ln in lines)
    assert all(ln.strip() in operator_lines(config) or "seq 1 deny" in ln for ln in lines)
    # the device reads back what the plan expects (offline: the snapshot plus the candidate)
    assert plan.live.count("seq 1 deny") == 0 and plan.desired.count("seq 1 deny") == 1


def test_frr_ipv6_hijack_composes_into_the_ipv6_list(ctx_with):
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", FRR_OCCUPIED), "frr-edge1",
                                         [hijack(502, "2001:db8:300::/48")])
    assert [(s.mode.value, s.operator_object) for s in plan.slots] == [("composed", "CUST-ACME-IN6")]
    assert candidate == "ipv6 prefix-list CUST-ACME-IN6 seq 1 deny 2001:db8:300::/48 le 128\n"


def test_unblock_removes_only_enforcers_entry_from_the_operators_list(ctx_with):
    """The device holds enforcer's seq 1 deny (pushed earlier): unblock negates that entry alone."""
    live = FRR_OCCUPIED.replace("ip prefix-list CUST-ACME-IN seq 5",
                                "ip prefix-list CUST-ACME-IN seq 1 deny 203.0.113.128/25 le 32\n"
                                "ip prefix-list CUST-ACME-IN seq 5")
    ctx = ctx_with("frr-edge1", live)
    plan, candidate = plan_and_candidate(ctx, "frr-edge1", [])
    assert plan.removed == 1
    assert candidate == "no ip prefix-list CUST-ACME-IN seq 1 deny 203.0.113.128/25 le 32\n"
    # still blocked: nothing to do (the live entry is read back as enforcer's)
    plan, _ = plan_and_candidate(ctx, "frr-edge1", [hijack(501, "203.0.113.128/25")])
    assert not plan.has_changes


def test_second_hijack_keeps_the_first_entrys_number(ctx_with):
    live = FRR_OCCUPIED.replace("ip prefix-list CUST-ACME-IN seq 5",
                                "ip prefix-list CUST-ACME-IN seq 1 deny 203.0.113.128/25 le 32\n"
                                "ip prefix-list CUST-ACME-IN seq 5")
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", live), "frr-edge1",
                                         [hijack(501, "203.0.113.128/25"), hijack(503, "203.0.113.0/26")])
    assert plan.error is None
    assert candidate == "ip prefix-list CUST-ACME-IN seq 2 deny 203.0.113.0/26 le 32\n"
    assert plan.desired.splitlines()[-2:] == ["ip prefix-list CUST-ACME-IN seq 1 deny 203.0.113.128/25 le 32",
                                              "ip prefix-list CUST-ACME-IN seq 2 deny 203.0.113.0/26 le 32"]


@pytest.mark.parametrize(("device", "config", "old", "new"), [
    ("frr-edge1", FRR_OCCUPIED, "CUST-ACME-IN seq 5 permit", "CUST-ACME-IN seq 3 permit"),
    ("ios-edge1", IOS_OCCUPIED, "CUST-ACME-IN seq 5 permit", "CUST-ACME-IN seq 3 permit"),
    ("eos-edge1", EOS_OCCUPIED, "   seq 10 permit", "   seq 3 permit"),
], ids=["frr", "ios", "eos"])
def test_operator_entry_in_enforcers_range_fails_closed(ctx_with, device, config, old, new):
    clash = config.replace(old, new)
    plan, candidate = plan_and_candidate(ctx_with(device, clash), device, [hijack(501, "203.0.113.128/25")])
    assert candidate is None and not plan.has_changes
    assert "refused (CUST-ACME-IN)" in plan.error and "seq 3" in plan.error and "renumber" in plan.error
    assert [s.mode.value for s in plan.slots] == ["refused"]


def test_prefix_list_bound_but_not_defined_fails_closed(ctx_with):
    undefined = "\n".join(ln for ln in FRR_OCCUPIED.splitlines() if not ln.startswith("ip prefix-list")) + "\n"
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", undefined), "frr-edge1",
                                         [hijack(501, "203.0.113.128/25")])
    assert candidate is None
    assert "CUST-ACME-IN is bound but not defined" in plan.error


def test_a_sequence_range_set_in_the_inventory_moves_enforcers_entries(ctx_with):
    clash = FRR_OCCUPIED.replace("prefix-list CUST-ACME-IN seq 5 permit", "prefix-list CUST-ACME-IN seq 3 permit")
    ctx = ctx_with("frr-edge1", clash.replace("seq 10 deny any", "seq 100 deny any"), "  sequence_range: [50, 59]\n")
    plan, candidate = plan_and_candidate(ctx, "frr-edge1", [hijack(501, "203.0.113.128/25")])
    assert plan.error is None
    assert candidate == "ip prefix-list CUST-ACME-IN seq 50 deny 203.0.113.128/25 le 32\n"


def test_a_free_slot_still_gets_enforcers_own_list(ctx_with):
    free = (EXAMPLE_INVENTORY / "snapshots" / "frr-edge1.conf").read_text()
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", free), "frr-edge1", [hijack(501, "203.0.113.128/25")])
    assert [s.mode.value for s in plan.slots] == ["free"]
    assert "neighbor 192.0.2.109 prefix-list ENFORCER-HIJACK-acme-V4 in" in candidate


def test_a_sequence_range_out_of_order_is_one_line_naming_the_field(tmp_path):
    inv = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, inv)
    (inv / "hosts.yaml").write_text((inv / "hosts.yaml").read_text().replace(
        "frr-edge1:\n", "frr-edge1:\n  sequence_range: [9, 2]\n", 1))
    with pytest.raises(InventoryError) as exc:
        load_inventory(inv)
    assert "frr-edge1" in str(exc.value) and "sequence_range" in str(exc.value) and "9-2" in str(exc.value)


def rtbh(eid: int, target: str) -> Enforcement:
    return Enforcement(id=eid, decision_id=eid, action=ActionKind.RTBH, target=ip_network(target),
                       violation="ddos-victim", created_at=T0, expires_at=T0 + timedelta(days=1), roles=())


@pytest.mark.parametrize("line", [" redistribute static route-map STATICS-OUT", " redistribute static"],
                         ids=["route-map", "plain"])
def test_rtbh_never_replaces_the_operators_redistribute_static(ctx_with, line):
    """`redistribute static route-map ENFORCER-RTBH` would replace the operator's own: refused."""
    config = FRR_OCCUPIED.replace("  neighbor 192.0.2.98 route-map UPSTREAM-OUT out",
                                  f"  neighbor 192.0.2.98 route-map UPSTREAM-OUT out\n {line}")
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", config), "frr-edge1", [rtbh(301, "203.0.113.9")])
    assert candidate is None
    assert "redistribute static (IPv4): refused" in plan.error and "match tag 666" in plan.error


def test_rtbh_with_the_slot_free_uses_enforcers_route_map(ctx_with):
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", FRR_OCCUPIED), "frr-edge1", [rtbh(301, "203.0.113.9")])
    assert ("redistribute static (IPv4)", "free") in [(s.slot, s.mode.value) for s in plan.slots]
    assert "  redistribute static route-map ENFORCER-RTBH" in candidate.splitlines()


def test_rtbh_never_goes_back_to_the_customer_and_the_guard_is_bound_before_the_announcement(ctx_with):
    """The customer's router, handed its own host as a blackhole, could not reach it (issue 9)."""
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", FRR_OCCUPIED), "frr-edge1", [rtbh(301, "203.0.113.9")])
    guard = next(s for s in plan.slots if s.slot.startswith("neighbor 192.0.2.109 outbound"))
    assert guard.mode.value == "free"
    lines = candidate.splitlines()
    bind = lines.index("  neighbor 192.0.2.109 route-map ENFORCER-RTBH-GUARD out")
    assert lines.index("bgp community-list standard ENFORCER-RTBH seq 5 permit blackhole") < bind
    assert lines.index("route-map ENFORCER-RTBH-GUARD deny 10") < bind
    assert bind < lines.index("  redistribute static route-map ENFORCER-RTBH")
    # never to the upstream
    assert not any("192.0.2.98" in ln for ln in lines)


OUT_MAP = FRR_OCCUPIED.replace("  neighbor 192.0.2.109 prefix-list CUST-ACME-IN in",
                               "  neighbor 192.0.2.109 prefix-list CUST-ACME-IN in\n"
                               "  neighbor 192.0.2.109 route-map CUST-ACME-OUT out").replace(
    "route-map UPSTREAM-OUT permit 10\nexit", "route-map UPSTREAM-OUT permit 10\nexit\n!\n"
    "route-map CUST-ACME-OUT permit 10\n match ip address prefix-list DEFAULT-ONLY\nexit")


def test_rtbh_guard_composes_into_the_operators_outbound_route_map(ctx_with):
    ctx = ctx_with("frr-edge1", OUT_MAP)
    plan, candidate = plan_and_candidate(ctx, "frr-edge1", [rtbh(301, "203.0.113.9")])
    guard = next(s for s in plan.slots if s.slot.startswith("neighbor 192.0.2.109 outbound"))
    assert (guard.mode.value, guard.operator_object) == ("composed", "CUST-ACME-OUT")
    lines = candidate.splitlines()
    at = lines.index("route-map CUST-ACME-OUT deny 1")
    assert lines[at + 1] == " match community ENFORCER-RTBH"
    assert "neighbor 192.0.2.109 route-map ENFORCER-RTBH-GUARD out" not in candidate
    assert not any(ln.strip().startswith("no ") for ln in lines)


def test_rtbh_unblock_removes_the_guard_entry_whole_never_leaving_an_empty_deny(ctx_with):
    """An empty `route-map X deny 1` would deny every route to the customer."""
    live = OUT_MAP + "bgp community-list standard ENFORCER-RTBH seq 5 permit blackhole\n" \
        "route-map CUST-ACME-OUT deny 1\n match community ENFORCER-RTBH\nexit\n"
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", live), "frr-edge1", [])
    assert "no route-map CUST-ACME-OUT deny 1" in candidate.splitlines()
    assert "no match community ENFORCER-RTBH" not in candidate
    assert candidate.splitlines().index("no route-map CUST-ACME-OUT deny 1") < candidate.splitlines().index(
        "no bgp community-list standard ENFORCER-RTBH seq 5 permit blackhole")


def test_rtbh_guard_refused_when_the_operator_uses_entry_1_to_4(ctx_with):
    clash = OUT_MAP.replace("route-map CUST-ACME-OUT permit 10", "route-map CUST-ACME-OUT permit 2")
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", clash), "frr-edge1", [rtbh(301, "203.0.113.9")])
    assert candidate is None and "route-map CUST-ACME-OUT uses entry 2" in plan.error
