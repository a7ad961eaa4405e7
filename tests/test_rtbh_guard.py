"""RTBH only where it belongs (issue 9 point 4) on IOS, EOS and NX-OS: the blackhole route goes
to the upstream sessions, never back to a customer session (the customer's router, handed its
own host as a blackhole, cannot reach it). A guard denies the blackhole communities outbound
on each customer session: enforcer's ENFORCER-RTBH-GUARD where the session has no outbound
route-map of the operator's (free), a deny entry in enforcer's range of the operator's one
(composed), or the device's plan fails closed. The running configurations are written the way
IOS XE 17, EOS 4.30 and NX-OS 10.3 print them (tests/fixtures/running/README.md, Sources): the
upstream session, the acme and initech (or globex) customer sessions of the example inventory.
"""

from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_network

import pytest

from enforcer.model import ActionKind, Enforcement

from .test_compose import (
    T0,
    ctx_with,  # noqa: F401  (a fixture: the tests take it as a parameter)
    plan_and_candidate,
)

IOS = """Building configuration...

Current configuration : 1911 bytes
!
version 17.9
hostname ios-edge1
!
ip bgp-community new-format
!
router bgp 65000
 bgp log-neighbor-changes
 neighbor 192.0.2.98 remote-as 64496
 neighbor 192.0.2.101 remote-as 64500
 neighbor 2001:DB8:FFFF::2 remote-as 64502
 !
 address-family ipv4
  neighbor 192.0.2.98 activate
  neighbor 192.0.2.98 send-community
  neighbor 192.0.2.98 route-map TRANSIT-OUT out
  neighbor 192.0.2.101 activate
  neighbor 2001:DB8:FFFF::2 activate
 exit-address-family
 !
 address-family ipv6
  neighbor 2001:DB8:FFFF::2 activate
  neighbor 2001:DB8:FFFF::2 route-map CUST-INITECH-OUT out
 exit-address-family
!
route-map TRANSIT-OUT permit 10
 match ip address prefix-list TRANSIT-OUT-V4
!
route-map CUST-INITECH-OUT permit 10
 match ipv6 address prefix-list DEFAULT-V6
!
end
""".replace(" permit 10\n", " permit 10 \n")  # IOS ends a route-map entry line with a space

EOS = """! Command: show running-config
! device: eos-edge1 (vEOS-lab, EOS-4.30.1F)
!
hostname eos-edge1
!
route-map CUST-INITECH-OUT permit 10
   match ipv6 address prefix-list DEFAULT-V6
!
router bgp 65000
   neighbor 192.0.2.98 remote-as 64496
   neighbor 192.0.2.98 send-community
   neighbor 192.0.2.113 remote-as 64500
   neighbor 2001:db8:ffff::a remote-as 64502
   !
   address-family ipv4
      neighbor 192.0.2.98 activate
      neighbor 192.0.2.113 activate
   !
   address-family ipv6
      neighbor 2001:db8:ffff::a activate
      neighbor 2001:db8:ffff::a route-map CUST-INITECH-OUT out
!
end
"""

NXOS = """!Command: show running-config
!Running configuration last done at: Tue Dec  1 09:12:44 2026
version 10.3(2) Bios:version
hostname nxos-edge1
feature bgp

route-map CUST-GLOBEX-OUT permit 10
  match ip address prefix-list DEFAULT-V4
router bgp 65000
  neighbor 192.0.2.97
    remote-as 64496
    address-family ipv4 unicast
      send-community
  neighbor 192.0.2.121
    remote-as 64501
    address-family ipv4 unicast
      route-map CUST-GLOBEX-OUT out
"""


def rtbh(eid: int, target: str) -> Enforcement:
    return Enforcement(id=eid, decision_id=eid, action=ActionKind.RTBH, target=ip_network(target),
                       violation="ddos-victim", created_at=T0, expires_at=T0 + timedelta(days=1), roles=())


def _index(lines: list[str], line: str) -> int:
    assert line in lines, f"{line!r} not in the candidate:\n" + "\n".join(lines)
    return lines.index(line)


@pytest.mark.parametrize(("device", "config", "bind", "community"), [
    ("ios-edge1", IOS, "  neighbor 192.0.2.101 route-map ENFORCER-RTBH-GUARD out",
     "ip community-list standard ENFORCER-RTBH permit 65535:666"),
    ("eos-edge1", EOS, "      neighbor 192.0.2.113 route-map ENFORCER-RTBH-GUARD out",
     "ip community-list ENFORCER-RTBH permit 65535:666"),
], ids=["ios", "eos"])
def test_ipv4_rtbh_is_kept_off_the_free_customer_session_and_bound_before_the_announcement(
    ctx_with, device, config, bind, community  # noqa: F811
):
    plan, candidate = plan_and_candidate(ctx_with(device, config), device, [rtbh(301, "198.51.100.9")])
    assert plan.error is None, plan.error
    guard = next(s for s in plan.slots if s.slot.startswith("neighbor 192.0.2.1") and "outbound" in s.slot)
    assert guard.mode.value == "free" and "IPv4" in guard.slot
    lines = candidate.splitlines()
    at = _index(lines, bind)
    assert _index(lines, community) < at
    assert _index(lines, "route-map ENFORCER-RTBH-GUARD deny 10") < at
    assert lines[lines.index("route-map ENFORCER-RTBH-GUARD deny 10") + 1].strip() == "match community ENFORCER-RTBH"
    assert _index(lines, "route-map ENFORCER-RTBH-GUARD permit 20") < at
    assert at < next(i for i, ln in enumerate(lines) if ln.strip() == "redistribute static route-map ENFORCER-RTBH")
    # never on the upstream session, nothing of the operator's negated
    assert not any("192.0.2.98" in ln for ln in lines)
    assert not any(ln.strip().startswith("no ") for ln in lines)


def test_nxos_guard_goes_into_the_operators_outbound_route_map_of_the_session(ctx_with):  # noqa: F811
    plan, candidate = plan_and_candidate(ctx_with("nxos-edge1", NXOS), "nxos-edge1", [rtbh(301, "203.0.113.9")])
    assert plan.error is None, plan.error
    guard = next(s for s in plan.slots if "outbound" in s.slot)
    assert (guard.slot, guard.mode.value, guard.operator_object) == (
        "neighbor 192.0.2.121 outbound route-map (IPv4)", "composed", "CUST-GLOBEX-OUT")
    lines = candidate.splitlines()
    at = _index(lines, "route-map CUST-GLOBEX-OUT deny 1")
    assert lines[at + 1] == "  match community ENFORCER-RTBH"
    assert _index(lines, "ip community-list standard ENFORCER-RTBH seq 5 permit 65535:666") < at
    assert at < _index(lines, "    redistribute static route-map ENFORCER-RTBH")
    assert "ENFORCER-RTBH-GUARD" not in candidate
    assert not any(ln.strip().startswith("no ") for ln in lines)


@pytest.mark.parametrize(("device", "config", "neighbor", "into"), [
    ("ios-edge1", IOS, "2001:db8:ffff::2", "CUST-INITECH-OUT"),
    ("eos-edge1", EOS, "2001:db8:ffff::a", "CUST-INITECH-OUT"),
], ids=["ios", "eos"])
def test_ipv6_rtbh_composes_into_the_customers_outbound_map_and_skips_sessions_without_ipv6(
    ctx_with, device, config, neighbor, into  # noqa: F811
):
    """The IPv6 session has the operator's route-map: enforcer's deny goes into it at entry 1.
    The acme session carries no IPv6 (not activated there): no guard, no binding that would fail."""
    plan, candidate = plan_and_candidate(ctx_with(device, config), device, [rtbh(302, "2001:db8:100::9")])
    assert plan.error is None, plan.error
    guards = [(s.slot, s.mode.value, s.operator_object) for s in plan.slots if "outbound" in s.slot]
    assert guards == [(f"neighbor {neighbor} outbound route-map (IPv6)", "composed", into)]
    lines = candidate.splitlines()
    at = _index(lines, f"route-map {into} deny 1")
    assert lines[at + 1].strip() == "match community ENFORCER-RTBH"
    assert "ENFORCER-RTBH-GUARD" not in candidate


#: IOS with enforcer's guard in place: IOS lists `redistribute` before the neighbours of an address
#: family, community-lists before the static routes, route-maps with a trailing space.
IOS_GUARDED = IOS.replace(" address-family ipv4\n", " address-family ipv4\n  redistribute static route-map ENFORCER-RTBH\n"
).replace("  neighbor 192.0.2.101 activate\n",
          "  neighbor 192.0.2.101 activate\n  neighbor 192.0.2.101 route-map ENFORCER-RTBH-GUARD out\n"
).replace("  neighbor 2001:DB8:FFFF::2 activate\n exit-address-family\n !\n address-family ipv6",
          "  neighbor 2001:DB8:FFFF::2 activate\n  neighbor 2001:DB8:FFFF::2 route-map ENFORCER-RTBH-GUARD out\n"
          " exit-address-family\n !\n address-family ipv6").replace(
    "!\nend\n", "ip community-list standard ENFORCER-RTBH permit 65535:666\n"
                "ip route 198.51.100.9 255.255.255.255 Null0 name ENFORCER-301 tag 666\n"
                "route-map ENFORCER-RTBH permit 10 \n description enforcer RTBH: static routes tagged 666 get the "
                "blackhole community\n match tag 666\n set community 65535:666\n"
                "route-map ENFORCER-RTBH-GUARD deny 10 \n match community ENFORCER-RTBH\n"
                "route-map ENFORCER-RTBH-GUARD permit 20 \n!\nend\n")


def test_ios_guard_in_place_reads_back_and_unblock_unbinds_after_the_redistribution_goes(ctx_with):  # noqa: F811
    ctx = ctx_with("ios-edge1", IOS_GUARDED)
    still, _ = plan_and_candidate(ctx, "ios-edge1", [rtbh(301, "198.51.100.9")])
    assert still.error is None and not still.has_changes, still.diff
    plan, candidate = plan_and_candidate(ctx, "ios-edge1", [])
    lines = candidate.splitlines()
    gone = _index(lines, "  no redistribute static route-map ENFORCER-RTBH")
    assert gone < _index(lines, "  no neighbor 192.0.2.101 route-map ENFORCER-RTBH-GUARD out")
    assert _index(lines, "  no neighbor 192.0.2.101 route-map ENFORCER-RTBH-GUARD out") < _index(
        lines, "no route-map ENFORCER-RTBH-GUARD deny 10")


def test_an_operator_entry_in_enforcers_range_of_the_customers_outbound_map_fails_closed(ctx_with):  # noqa: F811
    clash = NXOS.replace("route-map CUST-GLOBEX-OUT permit 10", "route-map CUST-GLOBEX-OUT permit 3")
    plan, candidate = plan_and_candidate(ctx_with("nxos-edge1", clash), "nxos-edge1", [rtbh(301, "203.0.113.9")])
    assert candidate is None and not plan.has_changes
    assert ("neighbor 192.0.2.121 outbound route-map (IPv4): refused (CUST-GLOBEX-OUT): route-map CUST-GLOBEX-OUT "
            "uses entry 3 inside enforcer's range 1-4") in plan.error


def test_a_bound_but_undefined_outbound_map_fails_closed(ctx_with):  # noqa: F811
    undefined = EOS.replace("route-map CUST-INITECH-OUT permit 10\n   match ipv6 address prefix-list DEFAULT-V6\n", "")
    plan, candidate = plan_and_candidate(ctx_with("eos-edge1", undefined), "eos-edge1", [rtbh(302, "2001:db8:100::9")])
    assert candidate is None
    assert "route-map CUST-INITECH-OUT is bound but not defined" in plan.error


@pytest.mark.parametrize(("device", "config", "missing"), [
    ("ios-edge1", IOS.replace(" neighbor 2001:DB8:FFFF::2 remote-as 64502\n", ""), "2001:db8:ffff::2"),
    ("nxos-edge1", NXOS.replace("  neighbor 192.0.2.121\n    remote-as 64501\n    address-family ipv4 unicast\n"
                                "      route-map CUST-GLOBEX-OUT out\n", ""), "192.0.2.121"),
], ids=["ios", "nxos"])
def test_a_customer_session_the_device_lacks_is_refused_not_skipped(ctx_with, device, config, missing):  # noqa: F811
    """A neighbour address mistyped in the inventory would leave the real session unguarded."""
    plan, candidate = plan_and_candidate(ctx_with(device, config), device, [rtbh(301, "198.51.100.9")])
    assert candidate is None
    assert (f"neighbor {missing} outbound route-map (IPv4): refused ({missing}): the inventory names customer "
            f"session {missing} on {device} but the device has no such BGP neighbour") in plan.error
