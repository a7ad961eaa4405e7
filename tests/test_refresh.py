"""Soft refresh after an inbound prefix-list change (issue 9 point 2) on IOS, EOS and NX-OS.

None of the three re-runs a neighbour's inbound policy by itself when an entry of the bound
prefix-list is added or removed (Cisco's BGP guides: the session must be soft cleared; EOS:
docs/platforms.md), so the plan carries the route refresh per session and family in
``after_commit`` and the push sends it once the commit is confirmed. The live configurations are
the shared captures-by-hand of tests/fixtures/running (the operator's lists CUST-…-V4/-V6 bound
on the customer session).
"""

from __future__ import annotations

import pytest

from .test_compose import (
    RUNNING,
    ctx_with,  # noqa: F401  (a fixture: the tests take it as a parameter)
    hijack,
    plan_and_candidate,
)

CASES = [
    ("ios-edge1", "ios", "acme", "CUST-ACME-V4", "CUST-ACME-V6",
     "clear ip bgp 192.0.2.101 soft in", "clear bgp ipv6 unicast 192.0.2.101 soft in"),
    ("eos-edge1", "eos", "acme", "CUST-ACME-V4", "CUST-ACME-V6",
     "clear ip bgp 192.0.2.113 soft in", "clear ipv6 bgp 192.0.2.113 soft in"),
    ("nxos-edge1", "nxos", "globex", "CUST-GLOBEX-V4", "CUST-GLOBEX-V6",
     "clear bgp ipv4 unicast 192.0.2.121 soft in", "clear bgp ipv6 unicast 192.0.2.121 soft in"),
]


@pytest.mark.parametrize(("device", "platform", "customer", "v4", "v6", "refresh4", "refresh6"), CASES,
                         ids=[c[1] for c in CASES])
def test_a_composed_inbound_list_change_refreshes_its_session_per_family(
    ctx_with, device, platform, customer, v4, v6, refresh4, refresh6  # noqa: F811
):
    config = (RUNNING / platform / "occupied.txt").read_text()
    ctx = ctx_with(device, config)
    plan, _ = plan_and_candidate(ctx, device, [hijack(501, "203.0.113.128/25", customer)])
    assert plan.error is None, plan.error
    assert [(s.mode.value, s.operator_object) for s in plan.slots if "inbound prefix-list" in s.slot] == [
        ("composed", v4)]
    assert plan.after_commit == [refresh4]
    both, _ = plan_and_candidate(ctx, device, [hijack(501, "203.0.113.128/25", customer),
                                               hijack(502, "2001:db8:300::/48", customer)])
    assert both.after_commit == [refresh4, refresh6]


def test_an_unchanged_list_sends_no_refresh_and_unblock_refreshes_again(ctx_with):  # noqa: F811
    config = (RUNNING / "ios" / "occupied.txt").read_text().replace(
        "ip prefix-list CUST-ACME-V4 seq 5 permit", "ip prefix-list CUST-ACME-V4 seq 1 deny 203.0.113.128/25 le 32\n"
        "ip prefix-list CUST-ACME-V4 seq 5 permit")
    ctx = ctx_with("ios-edge1", config)
    still, _ = plan_and_candidate(ctx, "ios-edge1", [hijack(501, "203.0.113.128/25")])
    assert still.error is None and not still.has_changes and still.after_commit == []
    unblock, candidate = plan_and_candidate(ctx, "ios-edge1", [])
    assert candidate == "no ip prefix-list CUST-ACME-V4 seq 1 deny 203.0.113.128/25 le 32\n"
    assert unblock.after_commit == ["clear ip bgp 192.0.2.101 soft in"]
