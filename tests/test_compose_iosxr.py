"""IOS XR slots (issue 9), against `tests/fixtures/running/iosxr` (written as IOS XR 7.9 prints
`show running-config`, from Cisco's configuration guides; see the README there).

The customer port Gi0/0/0/1 carries the operator's BCP 38 ACLs (`ipv4|ipv6 access-group …
ingress`), numbered 10, 20, … (`occupied.txt`) or from 1 (`no-room.txt`); Gi0/0/0/2 is free.
"""

from __future__ import annotations

import pytest

from . import test_compose
from .test_compose import RUNNING, acl, plan_and_candidate, rtbh, spoofing

ctx_with = test_compose.ctx_with  # the fixture: a context whose device snapshot is the given config

OCCUPIED = (RUNNING / "iosxr" / "occupied.txt").read_text()
NO_ROOM = (RUNNING / "iosxr" / "no-room.txt").read_text()
V4_DENY = " 1 deny tcp host 203.0.113.5 any eq smtp"
V6_DENY = " 1 deny ipv6 2001:db8:300::/48 any"
BLOCKS = [acl(601, "203.0.113.5/32", (25,)), acl(602, "2001:db8:300::/48")]


def slots_of(plan, iface: str) -> list[tuple[str, str, str | None]]:
    return [(s.slot[-5:-1], s.mode.value, s.operator_object) for s in plan.slots if s.slot.startswith(f"interface {iface} ")]


def test_xr_acl_denies_go_into_the_operators_ingress_acls_and_a_free_port_keeps_enforcers(ctx_with):
    plan, candidate = plan_and_candidate(ctx_with("iosxr-edge1", OCCUPIED), "iosxr-edge1", BLOCKS)
    assert plan.error is None
    assert slots_of(plan, "GigabitEthernet0/0/0/1") == [("IPv4", "composed", "CUST-GLOBEX-IN"),
                                                       ("IPv6", "composed", "CUST-GLOBEX-IN-V6")]
    assert [m for _, m, _ in slots_of(plan, "GigabitEthernet0/0/0/2")] == ["free", "free"]
    assert all("changes an operator object" in s.reason for s in plan.slots if s.mode.value == "composed")
    assert f"ipv4 access-list CUST-GLOBEX-IN\n{V4_DENY}\n" in candidate
    assert f"ipv6 access-list CUST-GLOBEX-IN-V6\n{V6_DENY}\n" in candidate
    assert "interface GigabitEthernet0/0/0/2\n ipv4 access-group ENFORCER-ACL-V4 ingress\n" in candidate
    # the operator's port keeps its bindings; nothing of the operator's is negated
    assert "interface GigabitEthernet0/0/0/1\n" not in candidate
    assert not any(ln.strip().startswith("no ") for ln in candidate.splitlines())
    # the operator's entries are not restated: only enforcer's numbered 1 goes in
    assert "20 permit ipv4 203.0.113.0" not in candidate


def test_xr_acl_unblock_removes_enforcers_entries_alone_and_still_blocked_is_no_change_there(ctx_with):
    live = (OCCUPIED.replace(" 10 remark BCP38: globex sources only\n 20 permit ipv4",
                             f"{V4_DENY}\n 10 remark BCP38: globex sources only\n 20 permit ipv4")
            .replace(" 10 remark BCP38: globex sources only\n 20 permit ipv6",
                     f"{V6_DENY}\n 10 remark BCP38: globex sources only\n 20 permit ipv6"))
    ctx = ctx_with("iosxr-edge1", live)
    plan, candidate = plan_and_candidate(ctx, "iosxr-edge1", [])
    assert plan.error is None
    assert candidate == (f"ipv4 access-list CUST-GLOBEX-IN\n no{V4_DENY}\n"
                         f"root\nipv6 access-list CUST-GLOBEX-IN-V6\n no{V6_DENY}\n")
    plan, candidate = plan_and_candidate(ctx, "iosxr-edge1", BLOCKS)
    assert plan.error is None and "CUST-GLOBEX-IN" not in candidate and "ENFORCER-ACL-V4" in candidate


@pytest.mark.parametrize(("config", "family", "said"), [
    (NO_ROOM, 4, "ACL CUST-GLOBEX-IN uses sequence 1 inside enforcer's range 1-4"),
    (OCCUPIED.replace(" 10 remark BCP38: globex sources only\n 20 permit ipv6",
                      " 3 remark BCP38: globex sources only\n 20 permit ipv6"), 6,
     "ACL CUST-GLOBEX-IN-V6 uses sequence 3 inside enforcer's range 1-4"),
], ids=["ipv4-no-room", "ipv6-clash"])
def test_xr_operator_entry_in_enforcers_acl_range_fails_closed(ctx_with, config, family, said):
    plan, candidate = plan_and_candidate(ctx_with("iosxr-edge1", config), "iosxr-edge1", BLOCKS)
    assert candidate is None and not plan.has_changes
    assert f"interface GigabitEthernet0/0/0/1 inbound ACL (IPv{family}): refused" in plan.error
    assert said in plan.error and "renumber it above 4" in plan.error


def test_xr_anti_spoof_on_a_port_with_the_operators_acl_is_refused(ctx_with):
    """Globex attaches to Gi0/0/0/1, where the operator's BCP 38 ACL is bound."""
    spoof = spoofing(701).model_copy(update={"customer": "globex"})
    plan, candidate = plan_and_candidate(ctx_with("iosxr-edge1", OCCUPIED), "iosxr-edge1", [spoof])
    assert candidate is None
    assert "interface GigabitEthernet0/0/0/1 inbound ACL (IPv4): refused (CUST-GLOBEX-IN): anti-spoof" in plan.error


# -- RTBH (enforcer/compose_rpl.py). The operator's redistribution policy and the customer's
#    outbound policy, amended the way the README's error messages ask, written as XR prints RPL.
CARRIES_RTBH = OCCUPIED.replace("""route-policy STATIC-TO-BGP
  if tag eq 100 then""", """route-policy STATIC-TO-BGP
  if tag eq 666 then
    set community (65535:666)
    pass
  elseif tag eq 100 then""").replace("   route-policy PASS-ALL out\n", "   route-policy CUST-GLOBEX-OUT out\n").replace(
    "route-policy CUST-GLOBEX-IN\n", """route-policy CUST-GLOBEX-OUT
  if community matches-any (65535:666) then
    drop
  endif
  pass
end-policy
!
route-policy CUST-GLOBEX-IN
""")
FREE = "\n".join(ln for ln in OCCUPIED.splitlines()
                 if "redistribute static" not in ln and ln != "   route-policy PASS-ALL out") + "\n"


FAMILIES = pytest.mark.parametrize(("family", "target"), [(4, "203.0.113.9"), (6, "2001:db8:400::9")],
                                   ids=["ipv4", "ipv6"])


@FAMILIES
def test_xr_rtbh_never_replaces_the_operators_redistribution_nor_passes_the_customers_policy(ctx_with, family,
                                                                                           target):
    """occupied.txt: `redistribute static route-policy STATIC-TO-BGP` and `route-policy PASS-ALL
    out` on the customer, per family: binding enforcer's would replace them, so the device is refused."""
    plan, candidate = plan_and_candidate(ctx_with("iosxr-edge1", OCCUPIED), "iosxr-edge1", [rtbh(301, target)])
    assert candidate is None and not plan.has_changes
    assert (f"redistribute static (IPv{family}): refused (STATIC-TO-BGP): the operator already redistributes "
            "static routes (redistribute static route-policy STATIC-TO-BGP)") in plan.error
    assert "add `if tag eq 666 then set community (65535:666) pass endif` at the top of STATIC-TO-BGP" in plan.error
    assert (f"neighbor 192.0.2.117 outbound route-policy (IPv{family}): refused (PASS-ALL): the operator's "
            "route-policy PASS-ALL passes enforcer's blackhole routes") in plan.error
    assert "matches-any (65535:666) then drop endif` at the top of PASS-ALL" in plan.error


@FAMILIES
def test_xr_rtbh_rides_the_operators_policies_when_they_carry_it(ctx_with, family, target):
    plan, candidate = plan_and_candidate(ctx_with("iosxr-edge1", CARRIES_RTBH), "iosxr-edge1", [rtbh(301, target)])
    assert plan.error is None
    modes = {s.slot: (s.mode.value, s.operator_object) for s in plan.slots}
    assert modes[f"redistribute static (IPv{family})"] == ("free", "STATIC-TO-BGP")
    assert modes[f"neighbor 192.0.2.117 outbound route-policy (IPv{family})"] == ("free", "CUST-GLOBEX-OUT")
    prefix = f"{target}/{32 if family == 4 else 128}"
    assert candidate == (f"router static\n address-family ipv{family} unicast\n"
                         f"  {prefix} Null0 tag 666 description ENFORCER-301\n")


def test_xr_rtbh_with_the_slots_free_binds_enforcers_policy(ctx_with):
    plan, candidate = plan_and_candidate(ctx_with("iosxr-edge1", FREE), "iosxr-edge1", [rtbh(301, "203.0.113.9")])
    assert plan.error is None
    guard = next(s for s in plan.slots if s.slot.startswith("neighbor 192.0.2.117"))
    assert guard.mode.value == "free" and "RFC 8212" in guard.reason
    assert "  redistribute static route-policy ENFORCER-RTBH" in candidate.splitlines()
    assert "route-policy ENFORCER-RTBH" in candidate.splitlines()
    assert "192.0.2.117" not in candidate
    assert plan.after_commit == []  # IOS XR soft-resets on a policy change by itself
