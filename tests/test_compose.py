"""Composing with the operator's configuration (issue 9): each slot is read before it is used.

The live configurations below are written the way FRR 8.4 (`show running-config`) and IOS XE
(`show running-config`) print them, with the operator's own customer filter in place: an inbound
prefix-list on the customer's BGP session (`seq 5 permit <the customer's /24>`, the automatic
numbering both start at). The plan is computed the way `enforcer plan` does it (the offline
driver reads the snapshot), and the candidate the way `enforcer apply` sends it.
"""

from __future__ import annotations

import re
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
 neighbor 192.0.2.125 remote-as 64501
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


def test_a_changed_inbound_list_is_refreshed_on_its_neighbour_after_the_commit(ctx_with):
    """FRR 8.4 does not re-run a bound list whose entries change: the plan names the route
    refresh for exactly the neighbours bound to a changed list, on block and on unblock."""
    ctx = ctx_with("frr-edge1", FRR_OCCUPIED)
    plan, _ = plan_and_candidate(ctx, "frr-edge1", [hijack(501, "203.0.113.128/25")])
    assert plan.after_commit == ["clear bgp 192.0.2.109 soft in"]
    live = FRR_OCCUPIED.replace("ip prefix-list CUST-ACME-IN seq 5",
                                "ip prefix-list CUST-ACME-IN seq 1 deny 203.0.113.128/25 le 32\n"
                                "ip prefix-list CUST-ACME-IN seq 5")
    ctx = ctx_with("frr-edge1", live)
    unblock, _ = plan_and_candidate(ctx, "frr-edge1", [])
    assert unblock.after_commit == ["clear bgp 192.0.2.109 soft in"]
    still, _ = plan_and_candidate(ctx, "frr-edge1", [hijack(501, "203.0.113.128/25")])
    assert still.after_commit == []


def test_enforcers_own_list_is_refreshed_on_the_neighbour_it_is_bound_to(ctx_with):
    free = (EXAMPLE_INVENTORY / "snapshots" / "frr-edge1.conf").read_text()
    plan, _ = plan_and_candidate(ctx_with("frr-edge1", free), "frr-edge1", [hijack(501, "203.0.113.128/25")])
    assert plan.after_commit == ["clear bgp 192.0.2.109 soft in"]


def test_a_platform_without_a_refresh_command_sends_none(ctx_with):
    plan, _ = plan_and_candidate(ctx_with("iosxr-edge1", IOSXR_POLICY.replace("   route-policy CUST-GLOBEX-IN in\n", "")),
                                 "iosxr-edge1", [hijack(501, "203.0.113.128/25", "globex")])
    assert plan.has_changes and plan.after_commit == []


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


@pytest.mark.parametrize(("line", "why"), [
    (" redistribute static", "without a route-map"),
    (" redistribute static route-map STATICS-OUT", "but not defined"),
], ids=["plain", "undefined-map"])
def test_rtbh_never_replaces_the_operators_redistribute_static(ctx_with, line, why):
    """`redistribute static route-map ENFORCER-RTBH` would replace the operator's own; with no
    route-map of the operator's to compose with, RTBH is refused."""
    config = FRR_OCCUPIED.replace("  neighbor 192.0.2.98 route-map UPSTREAM-OUT out",
                                  f"  neighbor 192.0.2.98 route-map UPSTREAM-OUT out\n {line}")
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", config), "frr-edge1", [rtbh(301, "203.0.113.9")])
    assert candidate is None
    assert "redistribute static (IPv4): refused" in plan.error and why in plan.error


#: The operator redistributes its own statics through OPERATOR-STATIC (the lab edge's config).
FRR_REDISTRIBUTING = FRR_OCCUPIED.replace(
    "ip route 0.0.0.0/0 192.0.2.98\n", "ip route 0.0.0.0/0 192.0.2.98\nip route 192.0.2.192/27 Null0 tag 100\n"
).replace("  neighbor 192.0.2.98 route-map UPSTREAM-OUT out\n",
          "  redistribute static route-map OPERATOR-STATIC\n  neighbor 192.0.2.98 route-map UPSTREAM-OUT out\n"
).replace("route-map UPSTREAM-OUT permit 10\nexit\n",
          "route-map OPERATOR-STATIC permit 10\n match tag 100\nexit\n!\nroute-map UPSTREAM-OUT permit 10\nexit\n")
RTBH_ENTRY = ["route-map OPERATOR-STATIC permit 1", " match tag 666", " set community blackhole", "exit"]


def test_rtbh_composes_into_the_operators_redistribution_route_map(ctx_with):
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", FRR_REDISTRIBUTING), "frr-edge1",
                                         [rtbh(301, "203.0.113.9")])
    slot = next(s for s in plan.slots if s.slot == "redistribute static (IPv4)")
    assert (slot.mode.value, slot.operator_object) == ("composed", "OPERATOR-STATIC")
    lines = candidate.splitlines()
    start = lines.index(RTBH_ENTRY[0])
    assert lines[start:start + 3] == RTBH_ENTRY[:3]  # the candidate leaves out `exit`
    # the operator's redistribution stays the only one; enforcer's own route-map is not made
    assert not any("redistribute" in ln or "ENFORCER-RTBH permit" in ln for ln in lines)
    assert not any(ln.strip().startswith("no ") for ln in lines)


def test_rtbh_unblock_removes_enforcers_entry_whole_and_still_blocked_is_no_change(ctx_with):
    live = FRR_REDISTRIBUTING.replace("ip route 192.0.2.192/27 Null0 tag 100\n",
                                      "ip route 192.0.2.192/27 Null0 tag 100\nip route 203.0.113.9/32 Null0 tag 666\n"
    ).replace("route-map OPERATOR-STATIC permit 10\n", "\n".join(RTBH_ENTRY) + "\n!\nroute-map OPERATOR-STATIC permit 10\n")
    ctx = ctx_with("frr-edge1", live)
    still, _ = plan_and_candidate(ctx, "frr-edge1", [rtbh(301, "203.0.113.9")])
    # enforcer's entry is read back as enforcer's, `exit` and all, and equals the render
    entry = "".join(ln + "\n" for ln in RTBH_ENTRY)
    assert entry in still.live and entry in still.desired
    assert not [ln for ln in still.diff.splitlines() if ln[:1] in "+-" and "OPERATOR-STATIC" in ln]
    plan, candidate = plan_and_candidate(ctx, "frr-edge1", [])
    lines = candidate.splitlines()
    assert "no route-map OPERATOR-STATIC permit 1" in lines
    assert "no ip route 203.0.113.9/32 Null0 tag 666" in lines
    assert not any("match tag 100" in ln or "permit 10" in ln for ln in lines)


def test_an_operator_entry_in_enforcers_range_of_the_redistribution_map_fails_closed(ctx_with):
    config = FRR_REDISTRIBUTING.replace("route-map OPERATOR-STATIC permit 10", "route-map OPERATOR-STATIC permit 2")
    plan, candidate = plan_and_candidate(ctx_with("frr-edge1", config), "frr-edge1", [rtbh(301, "203.0.113.9")])
    assert candidate is None and "uses entry 2 inside enforcer's range 1-4" in plan.error


def test_rtbh_on_a_platform_whose_templates_cannot_compose_still_refuses(ctx_with):
    """IOS prints no `match tag 666` entry into an operator's map: its redistribution is refused."""
    config = IOS_OCCUPIED.replace("  neighbor 192.0.2.101 activate\n",
                                  "  redistribute static route-map OPERATOR-STATIC\n  neighbor 192.0.2.101 activate\n"
    ).replace("!\nend\n", "!\nroute-map OPERATOR-STATIC permit 10\n match tag 100\n!\nend\n")
    plan, candidate = plan_and_candidate(ctx_with("ios-edge1", config), "ios-edge1", [rtbh(301, "203.0.113.9")])
    assert candidate is None
    assert "redistribute static (IPv4): refused (OPERATOR-STATIC)" in plan.error and "match tag 666" in plan.error


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


# -- interface ACL slots (issue 9): the operator's BCP 38 ACL bound inbound on a customer port.
#    Written the way IOS XE 17 prints named ACLs (`show running-config`): IPv4 entries numbered
#    `10 permit ...` (deny padded to three spaces); IPv6 entries print `sequence N permit ...` only
#    when N is not the default numbering (15, 25, 35 here; tests/fixtures/running/README.md).

IOS_BCP38 = """Building configuration...

Current configuration : 2210 bytes
!
version 17.9
hostname ios-edge1
!
interface GigabitEthernet0/0/1
 description customer acme
 ip address 192.0.2.102 255.255.255.252
 ip access-group CUST-ACME-BCP38 in
 ipv6 address 2001:DB8:FFFF::101/126
 ipv6 traffic-filter CUST-ACME-BCP38-V6 in
!
interface GigabitEthernet0/0/2
 description customer initech
 ip address 192.0.2.106 255.255.255.252
!
router bgp 65000
 bgp log-neighbor-changes
 neighbor 192.0.2.101 remote-as 64500
!
ip access-list extended CUST-ACME-BCP38
 10 permit ip 198.51.100.0 0.0.0.127 any
 20 permit ip host 192.0.2.101 any
 30 deny   ip any any log
!
ipv6 access-list CUST-ACME-BCP38-V6
 sequence 15 permit ipv6 2001:DB8:100::/48 any
 sequence 25 permit ipv6 FE80::/10 any
 sequence 35 deny ipv6 any any log
!
end
"""


def acl(eid: int, target: str, ports: tuple[int, ...] = ()) -> Enforcement:
    params = {"protocol": "tcp", "ports": ports} if ports else {}
    return Enforcement(id=eid, decision_id=eid, action=ActionKind.ACL, target=ip_network(target), params=params,
                       violation="spam", created_at=T0, expires_at=T0 + timedelta(days=1))


def spoofing(eid: int) -> Enforcement:
    return Enforcement(id=eid, decision_id=eid, action=ActionKind.ANTI_SPOOF, target=ip_network("198.51.100.0/25"),
                       violation="spoofing", customer="acme", created_at=T0, expires_at=T0 + timedelta(days=1))


RUNNING = Path(__file__).parent / "fixtures" / "running"
V4_DENY = " 1 deny   tcp host 203.0.113.5 any eq smtp"
V6_DENY = " sequence 1 deny ipv6 2001:DB8:300::/48 any"


def test_acl_denies_go_into_the_operators_bcp38_acls_and_a_free_port_keeps_enforcers(ctx_with):
    """Gi0/0/1 holds the operator's BCP 38 ACLs (IPv4 and IPv6): the denies go into them at
    sequence 1, before the operator's permits, and the bindings stay the operator's; Gi0/0/2 is
    free and gets ENFORCER-ACL-V4/-V6 as before."""
    plan, candidate = plan_and_candidate(ctx_with("ios-edge1", IOS_BCP38), "ios-edge1",
                                         [acl(601, "203.0.113.5/32", (25,)), acl(602, "2001:db8:300::/48")])
    assert plan.error is None
    assert [(s.slot, s.mode.value, s.operator_object) for s in plan.slots] == [
        ("interface GigabitEthernet0/0/1 inbound ACL (IPv4)", "composed", "CUST-ACME-BCP38"),
        ("interface GigabitEthernet0/0/1 inbound ACL (IPv6)", "composed", "CUST-ACME-BCP38-V6"),
        ("interface GigabitEthernet0/0/2 inbound ACL (IPv4)", "free", None),
        ("interface GigabitEthernet0/0/2 inbound ACL (IPv6)", "free", None),
    ]
    assert f"ip access-list extended CUST-ACME-BCP38\n{V4_DENY}\n" in candidate
    assert f"ipv6 access-list CUST-ACME-BCP38-V6\n{V6_DENY}\n" in candidate
    assert "interface GigabitEthernet0/0/2\n ip access-group ENFORCER-ACL-V4 in\n" in candidate
    # the operator's port keeps the operator's ACLs: nothing bound there, nothing negated
    assert "GigabitEthernet0/0/1" not in candidate
    assert not any(ln.strip().startswith("no ") for ln in candidate.splitlines())


def test_acl_unblock_removes_enforcers_entry_alone_from_the_operators_acl(ctx_with):
    live = (IOS_BCP38.replace(" 10 permit ip 198.51.100.0", f"{V4_DENY}\n 10 permit ip 198.51.100.0")
            .replace(" sequence 15 permit ipv6", f"{V6_DENY}\n sequence 15 permit ipv6"))
    ctx = ctx_with("ios-edge1", live)
    plan, candidate = plan_and_candidate(ctx, "ios-edge1", [])
    assert plan.error is None
    assert candidate == (f"ip access-list extended CUST-ACME-BCP38\n no{V4_DENY}\n"
                         f"ipv6 access-list CUST-ACME-BCP38-V6\n no{V6_DENY}\n")
    # still blocked: the live entries are read back as enforcer's, the operator's ACLs untouched
    # (only the free port Gi0/0/2 gets enforcer's own ACLs)
    plan, candidate = plan_and_candidate(ctx, "ios-edge1", [acl(601, "203.0.113.5/32", (25,)),
                                                            acl(602, "2001:db8:300::/48")])
    assert plan.error is None and "ENFORCER-ACL-V4" in candidate and "CUST-ACME-BCP38" not in candidate


@pytest.mark.parametrize(("old", "new", "family", "said"), [
    (" 10 permit ip 198.51.100.0", " 3 permit ip 198.51.100.0", 4, "sequence 3 inside enforcer's range 1-4"),
    (" sequence 15 permit ipv6", " sequence 2 permit ipv6", 6, "sequence 2 inside enforcer's range 1-4"),
], ids=["ipv4", "ipv6"])
def test_an_operator_entry_in_enforcers_acl_range_fails_closed(ctx_with, old, new, family, said):
    plan, candidate = plan_and_candidate(ctx_with("ios-edge1", IOS_BCP38.replace(old, new)), "ios-edge1",
                                         [acl(601, "203.0.113.5/32", (25,)), acl(602, "2001:db8:300::/48")])
    assert candidate is None and not plan.has_changes
    assert f"interface GigabitEthernet0/0/1 inbound ACL (IPv{family}): refused" in plan.error
    assert said in plan.error and "renumber it above 4" in plan.error


@pytest.mark.parametrize(("target", "ports"), [("203.0.113.5/32", (25, 80, 110, 143, 443)),
                                               ("2001:db8:300::/48", (25, 80, 110, 143, 443))], ids=["ipv4", "ipv6"])
def test_more_denies_than_the_reserved_acl_range_holds_fails_closed(ctx_with, target, ports):
    plan, candidate = plan_and_candidate(ctx_with("ios-edge1", IOS_BCP38), "ios-edge1", [acl(601, target, ports)])
    assert candidate is None
    assert "5 denies do not fit in enforcer's range 1-4 of ACL CUST-ACME-BCP38" in plan.error
    assert "widen sequence_range" in plan.error


def test_a_wider_sequence_range_makes_room_in_the_acl(ctx_with):
    live = IOS_BCP38.replace(" 10 permit ip 198", " 50 permit ip 198")
    ctx = ctx_with("ios-edge1", live, "  sequence_range: [1, 9]\n")
    plan, candidate = plan_and_candidate(ctx, "ios-edge1", [acl(601, "203.0.113.5/32", (25, 80, 110, 143, 443))])
    assert plan.error is None
    assert " 5 deny   tcp host 203.0.113.5 any eq 443" in candidate


def test_an_unnumbered_acl_fails_closed(ctx_with):
    """Classic IOS 15 prints named-ACL entries without numbers, and a numbered `access-list 101`
    has none to insert at: both are refused, naming what to change."""
    classic = IOS_BCP38.replace(" 10 permit ip 198", " permit ip 198").replace(" 20 permit ip host", " permit ip host")
    plan, _ = plan_and_candidate(ctx_with("ios-edge1", classic), "ios-edge1", [acl(601, "203.0.113.5/32")])
    assert ("ACL CUST-ACME-BCP38 has an entry without a sequence number (permit ip 198.51.100.0 0.0.0.127 any)"
            in plan.error)
    numbered = (IOS_BCP38.replace("ip access-group CUST-ACME-BCP38 in", "ip access-group 101 in")
                .replace("ip access-list extended CUST-ACME-BCP38\n", "")
                .replace(" 10 permit ip 198.51.100.0 0.0.0.127 any\n 20 permit ip host 192.0.2.101 any\n"
                         " 30 deny   ip any any log\n",
                         "access-list 101 permit ip 198.51.100.0 0.0.0.127 any\n"))
    plan, _ = plan_and_candidate(ctx_with("ios-edge1", numbered), "ios-edge1", [acl(601, "203.0.113.5/32")])
    assert "inbound ACL (IPv4): refused (101): ACL 101 is bound but not defined as a named ACL" in plan.error


def test_anti_spoof_on_a_port_with_the_operators_acl_is_refused(ctx_with):
    """Anti-spoof is a permit-list of the customer's sources: merged into the operator's BCP 38
    ACL it would be shadowed by (or shadow) the operator's entries. Refused; the reason says how."""
    plan, candidate = plan_and_candidate(ctx_with("ios-edge1", IOS_BCP38), "ios-edge1", [spoofing(701)])
    assert candidate is None
    assert "interface GigabitEthernet0/0/1 inbound ACL (IPv4): refused (CUST-ACME-BCP38): anti-spoof" in plan.error
    assert "drop anti-spoof for this customer, or unbind CUST-ACME-BCP38" in plan.error


@pytest.mark.parametrize(("device", "config", "iface", "name", "v4", "v6"), [
    ("eos-edge1", "eos", "Ethernet1", "CUST-ACME-IN",
     "ip access-list CUST-ACME-IN\n   1 deny tcp host 203.0.113.5 any eq smtp\n",
     "ipv6 access-list CUST-ACME-IN-V6\n   1 deny ipv6 2001:db8:300::/48 any\n"),
    ("nxos-edge1", "nxos", "Ethernet1/1", "CUST-GLOBEX-IN",
     "ip access-list CUST-GLOBEX-IN\n  1 deny tcp 203.0.113.5/32 any eq smtp\n",
     "ipv6 access-list CUST-GLOBEX-IN-V6\n  1 deny ipv6 2001:db8:300::/48 any\n"),
], ids=["eos", "nxos"])
def test_acl_denies_compose_into_the_operators_acls_on_eos_and_nxos(ctx_with, device, config, iface, name, v4, v6):
    """The shared running configs (tests/fixtures/running/<platform>/occupied.txt): EOS indents
    ACL entries three spaces and binds IPv6 with `ipv6 access-group`, NX-OS two and
    `ipv6 traffic-filter`; both number entries from 10."""
    config = (RUNNING / config / "occupied.txt").read_text()
    ctx = ctx_with(device, config)
    plan, candidate = plan_and_candidate(ctx, device, [acl(601, "203.0.113.5/32", (25,)),
                                                       acl(602, "2001:db8:300::/48")])
    assert plan.error is None
    mine = [(s.mode.value, s.operator_object) for s in plan.slots if s.slot.startswith(f"interface {iface} ")]
    assert mine == [("composed", name), ("composed", f"{name}-V6")]
    assert v4 in candidate and v6 in candidate
    assert f"interface {iface}\n" not in candidate
    assert not any(ln.strip().startswith("no ") for ln in candidate.splitlines())
    # an operator entry at 2 (inside 1-4) refuses the device
    clash = config.replace("20 permit ip ", "2 permit ip ", 1)
    plan, candidate = plan_and_candidate(ctx_with(device, clash), device, [acl(601, "203.0.113.5/32", (25,))])
    assert candidate is None and f"refused ({name}): ACL {name} uses sequence 2" in plan.error


# IOS XR 7.x `show running-config`: the customer session with the operator's inbound policy.
IOSXR_POLICY = """Building configuration...
!! IOS XR Configuration 7.9.2
!
hostname iosxr-edge1
!
route-policy CUST-GLOBEX-IN
  if destination in (203.0.113.0/24) then
    pass
  else
    drop
  endif
end-policy
!
router bgp 65000
 neighbor 192.0.2.117
  remote-as 64501
  address-family ipv4 unicast
   route-policy CUST-GLOBEX-IN in
   route-policy PASS-ALL out
  !
 !
!
end
"""


def test_iosxr_operator_route_policy_on_the_customer_session_is_refused_with_a_plan(ctx_with):
    """IOS XR binds one route-policy per neighbour and direction, and RPL has no numbered entries:
    enforcer refuses rather than replace the operator's policy (a route leak after unblock)."""
    plan, candidate = plan_and_candidate(ctx_with("iosxr-edge1", IOSXR_POLICY), "iosxr-edge1",
                                         [hijack(501, "203.0.113.128/25", "globex")])
    assert candidate is None and not plan.has_changes
    assert plan.error.startswith("neighbor 192.0.2.117 inbound prefix-list (IPv4): refused (CUST-GLOBEX-IN): "
                                 "the operator's route-policy CUST-GLOBEX-IN is bound inbound")
    assert "or unbind CUST-GLOBEX-IN" in plan.error


def test_iosxr_free_route_policy_slot_still_gets_enforcers_policy(ctx_with):
    free = IOSXR_POLICY.replace("   route-policy CUST-GLOBEX-IN in\n", "")
    plan, candidate = plan_and_candidate(ctx_with("iosxr-edge1", free), "iosxr-edge1",
                                         [hijack(501, "203.0.113.128/25", "globex")])
    assert [s.mode.value for s in plan.slots] == ["free"]
    assert "   route-policy ENFORCER-HIJACK-globex-V4 in" in candidate


@pytest.mark.parametrize(("platform", "device", "iface", "name"), [
    ("ios", "ios-edge1", "GigabitEthernet0/0/1", "CUST-ACME-IN"),
    ("eos", "eos-edge1", "Ethernet1", "CUST-ACME-IN"),
    ("nxos", "nxos-edge1", "Ethernet1/1", "CUST-GLOBEX-IN"),
], ids=["ios", "eos", "nxos"])
def test_shared_running_fixtures_occupied_composes_and_no_room_refuses(ctx_with, platform, device, iface, name):
    """The shared captures-by-hand (tests/fixtures/running): `occupied` numbers the operator's
    BCP 38 ACL from 10 (composed at 1), `no-room` from 1 (refused, naming the ACL)."""
    occupied = (RUNNING / platform / "occupied.txt").read_text()
    plan, candidate = plan_and_candidate(ctx_with(device, occupied), device, [acl(601, "203.0.113.5/32", (25,))])
    assert plan.error is None
    slot = next(s for s in plan.slots if s.slot == f"interface {iface} inbound ACL (IPv4)")
    assert (slot.mode.value, slot.operator_object) == ("composed", name)
    assert f"access-list {'extended ' if platform == 'ios' else ''}{name}\n" in candidate
    no_room = (RUNNING / platform / "no-room.txt").read_text()
    plan, candidate = plan_and_candidate(ctx_with(device, no_room), device, [acl(601, "203.0.113.5/32", (25,))])
    assert candidate is None
    assert f"interface {iface} inbound ACL (IPv4): refused ({name}): ACL {name} uses sequence 1" in plan.error


def test_ios_ipv6_acl_with_default_numbers_composes_before_the_operators_first_entry(ctx_with):
    """IOS prints default-numbered IPv6 ACL entries with their numbers (` sequence 10 permit …`,
    tests/fixtures/running/README.md): enforcer's deny goes in at sequence 1, before them."""
    occupied = (RUNNING / "ios" / "occupied.txt").read_text()
    plan, candidate = plan_and_candidate(ctx_with("ios-edge1", occupied), "ios-edge1", [acl(602, "2001:db8:300::/48")])
    assert plan.error is None, plan.error
    slot = next(s for s in plan.slots if s.slot == "interface GigabitEthernet0/0/1 inbound ACL (IPv6)")
    assert (slot.mode.value, slot.operator_object) == ("composed", "CUST-ACME-IN-V6")
    assert f"ipv6 access-list CUST-ACME-IN-V6\n{V6_DENY}\n" in candidate


def test_an_unnumbered_ios_ipv6_acl_is_refused(ctx_with):
    """Entries without numbers (as older IOS prints them): nothing to place enforcer's deny before."""
    occupied = (RUNNING / "ios" / "occupied.txt").read_text()
    unnumbered = re.sub(r"(?m)^ sequence \d+ ", " ", occupied)  # the IPv6 ACL is the only one numbered so
    plan, candidate = plan_and_candidate(ctx_with("ios-edge1", unnumbered), "ios-edge1", [acl(602, "2001:db8:300::/48")])
    assert candidate is None
    assert ("interface GigabitEthernet0/0/1 inbound ACL (IPv6): refused (CUST-ACME-IN-V6): ACL CUST-ACME-IN-V6 "
            "has an entry without a sequence number (permit ipv6 2001:DB8:100::/48 any)") in plan.error
