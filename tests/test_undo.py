"""The undo file an FRR router keeps beside each commit: it takes back enforcer's change and nothing else.

The live configs are written the way FRR 8.4 prints ``show running-config`` (the lab's edge), never
built from enforcer's render.
"""

from __future__ import annotations

from enforcer.drivers.confdiff import apply_merge, parse, tree_diff
from enforcer.drivers.undo import undo_candidate

LIVE = """Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname edge
!
ip route 192.0.2.200/32 Null0
ip route 203.0.113.7/32 Null0 tag 667
!
router bgp 65000
 neighbor 10.0.1.2 remote-as 65101
 !
 address-family ipv4 unicast
  network 198.51.100.0/24
 exit-address-family
exit
!
end
"""


def _after(live: str, *files: str) -> list[str]:
    """``live`` with each file merged in turn, as vtysh -f would leave it (its lines, in FRR's sorted order)."""
    tree = parse(live)
    for f in files:
        apply_merge(tree, parse(f))
    return sorted(tree_diff(parse(""), tree))


def test_undo_negates_what_the_commit_added_and_restates_what_it_removed():
    candidate = "no ip route 203.0.113.7/32 Null0 tag 667\nip route 203.0.113.9/32 Null0 tag 667\n"
    undo = undo_candidate(LIVE, candidate)
    assert undo == "no ip route 203.0.113.9/32 Null0 tag 667\nip route 203.0.113.7/32 Null0 tag 667\n"
    assert _after(LIVE, candidate, undo) == _after(LIVE)


def test_undo_of_a_neighbour_binding_climbs_into_its_address_family_and_leaves_the_rest():
    candidate = (
        "ip prefix-list ENFORCER-HIJACK-cust1-V4 seq 10 deny 203.0.113.0/24 le 32\n"
        "router bgp 65000\n address-family ipv4 unicast\n  neighbor 10.0.1.2 prefix-list ENFORCER-HIJACK-cust1-V4 in\n"
    )
    undo = undo_candidate(LIVE, candidate)
    assert undo.splitlines() == [
        "no ip prefix-list ENFORCER-HIJACK-cust1-V4 seq 10 deny 203.0.113.0/24 le 32",
        "router bgp 65000",
        " address-family ipv4 unicast",
        "  no neighbor 10.0.1.2 prefix-list ENFORCER-HIJACK-cust1-V4 in",
    ]
    assert _after(LIVE, candidate, undo) == _after(LIVE)


def test_a_noc_edit_made_after_the_commit_is_not_in_the_undo():
    candidate = "ip route 203.0.113.9/32 Null0 tag 667\n"
    undo = undo_candidate(LIVE, candidate)
    noc = "ip route 192.0.2.77/32 Null0\n"
    assert "192.0.2.77" not in undo and "192.0.2.200" not in undo
    assert _after(LIVE, candidate, noc, undo) == _after(LIVE, noc)


def test_a_candidate_that_changes_nothing_has_an_empty_undo():
    assert undo_candidate(LIVE, "ip route 203.0.113.7/32 Null0 tag 667\n") == ""
